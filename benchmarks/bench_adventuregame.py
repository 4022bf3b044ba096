"""Engine cost of adventuregame: full episodes with scripted players over the validation and test instances.

Replies are produced first (player time is not counted), then every episode is replayed through a fresh game
master and only ``step`` (plus construction and ``scores()``) is timed. Besides the natural episodes (competent
and bad players), a 50-turn episode per instance is built by letting the competent player wander after reaching
the goals until the turn limit — the worst case the speed target speaks of.

    .venv/bin/python benchmarks/bench_adventuregame.py

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import json
import statistics
import time

from playpen.core.instances import iter_rows, load_instances
from playpen.games import get_game

SPEC = get_game("adventuregame")
REPEATS = 3


def _replies(row, skill: str, fifty_turns: bool) -> list[str]:
    master = SPEC.new_episode(row.experiment, row.instance)
    policy = SPEC.scripted("Adventurer", skill, row.experiment, row.instance, 0)
    replies = []
    while not master.done:
        reply = policy(master.messages_for())
        if fifty_turns and reply.startswith("> done"):
            reply = "> go to " + master.adventure.label(master.world.exits()[0])
            if master.plan_variant:
                reply += "\nNext actions: examine table, go to kitchen"
        replies.append(reply)
        master.step(reply)
    return replies


def _time_episode(row, replies: list[str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        master = SPEC.new_episode(row.experiment, row.instance)
        for reply in replies:
            master.step(reply)
        master.scores()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rows = []
    for split in ("validation", "test"):
        rows += list(iter_rows(SPEC.name, load_instances(SPEC.instances_file(split))))
    figures = {}
    outcomes: dict[str, dict[str, int]] = {}
    for label, skill, fifty in (("competent", "competent", False), ("bad", "bad", False), ("fifty_turn", "competent", True)):
        times, turns = [], []
        outcomes[label] = {}
        for row in rows:
            replies = _replies(row, skill, fifty)
            times.append(_time_episode(row, replies))
            turns.append(len(replies))
            master = SPEC.new_episode(row.experiment, row.instance)
            for reply in replies:
                master.step(reply)
            status = master.outcome.status.value
            outcomes[label][status] = outcomes[label].get(status, 0) + 1
        figures[label] = {
            "episodes": len(rows),
            "mean_turns": round(statistics.mean(turns), 2),
            "ms_per_episode": round(1000 * statistics.mean(times), 3),
            "ms_per_turn": round(1000 * sum(times) / sum(turns), 4),
            "max_ms_per_episode": round(1000 * max(times), 3),
            "outcomes": outcomes[label],
        }
        print(f"{label:>10}: {figures[label]}")
    fifty = figures["fifty_turn"]
    print(json.dumps({
        "engine_ms_per_episode": figures["competent"]["ms_per_episode"],
        "engine_ms_per_episode_bad": figures["bad"]["ms_per_episode"],
        "engine_ms_per_50_turn_episode": fifty["ms_per_episode"],
        "engine_ms_per_turn": fifty["ms_per_turn"],
        "episodes": len(rows),
        "competent_success_rate": round(outcomes["competent"].get("success", 0) / len(rows), 3),
    }))


if __name__ == "__main__":
    main()
