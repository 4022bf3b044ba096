"""Engine cost per episode with scripted players, per game (game-master time only: no model, no file I/O)."""

import json
import random
import statistics
import time

from playpen.core.instances import iter_rows, load_instances
from playpen.games import available_games


def engine_time(spec, rows, episodes: int) -> tuple[float, float, float]:
    """(mean ms of game-master work per episode, mean requests, mean ms spent in the scripted players)."""
    engine, policy_time, requests = [], 0.0, []
    for index in range(episodes):
        row = rows[index % len(rows)]
        policies = {role: spec.scripted(role, "competent", row.experiment, row.instance, index) for role in spec.roles}
        spent = 0.0
        start = time.perf_counter()
        master = spec.new_episode(row.experiment, row.instance)
        spent += time.perf_counter() - start
        while not master.done:
            start = time.perf_counter()
            role = master.current_role
            messages = master.messages_for(role)
            spent += time.perf_counter() - start
            start = time.perf_counter()
            reply = policies[role](messages)
            policy_time += time.perf_counter() - start
            start = time.perf_counter()
            master.step(reply)
            spent += time.perf_counter() - start
        start = time.perf_counter()
        master.scores()
        spent += time.perf_counter() - start
        engine.append(spent * 1000)
        requests.append(master.requests)
    return statistics.fmean(engine), statistics.fmean(requests), policy_time * 1000 / episodes


if __name__ == "__main__":
    figures = {}
    for name, spec in available_games().items():
        rows = list(iter_rows(name, load_instances(spec.instances_file("test"))))
        random.Random(0).shuffle(rows)
        engine_time(spec, rows, episodes=2)  # warm-up: lazy imports (e.g. scikit-learn for kappa), caches
        ms, requests, policy_ms = engine_time(spec, rows, episodes=min(200, max(50, len(rows))))
        figures[name] = {"engine_ms_per_episode": round(ms, 3), "requests_per_episode": round(requests, 1),
                         "scripted_player_ms_per_episode": round(policy_ms, 3)}
        print(f"{name:30s} engine {ms:8.3f} ms/episode  ({requests:5.1f} requests; scripted players {policy_ms:.3f} ms)")
    print(json.dumps(figures))
