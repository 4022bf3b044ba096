"""Embedded model on this CPU: a long multi-turn conversation with and without the HF backend's prefix cache.

Plays the first turns of an adventuregame validation episode with the embedded model (greedy), one
conversation at a time as in the tail of a run, twice: with the prefix cache (each turn reuses the previous
turn's keys/values) and without it (each turn recomputes the whole history). Prints seconds per turn, checks
that both give the same replies, and ends with a JSON line.

Usage: python benchmarks/bench_prefix_cache.py [turns] [max_tokens]
"""

import json
import sys
import time

from playpen.games import get_game
from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.models.registry import load_model
from playpen.rollout.planner import select_rows


def play(model, spec, row, turns):
    """The first ``turns`` replies of one episode; returns (replies, seconds per reply, prompt tokens)."""
    master = spec.new_episode(row.experiment, row.instance)
    replies, seconds, prompt_tokens = [], [], []
    while not master.done and len(replies) < turns:
        request = GenerationRequest(messages=master.messages_for(master.current_role))
        start = time.perf_counter()
        [result] = model.generate([request])
        seconds.append(time.perf_counter() - start)
        prompt_tokens.append(result.usage["prompt_tokens"])
        replies.append(result.text)
        master.step(result.text)
    return replies, seconds, prompt_tokens


if __name__ == "__main__":
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    spec = get_game("adventuregame")
    row = select_rows(spec, split="validation")[0]
    settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens)
    figures = {"benchmark": "prefix_cache", "game": spec.name, "turns": turns, "max_tokens": max_tokens}
    replies = {}
    for label, tokens in (("cached", None), ("uncached", 0)):
        model = load_model("smollm2-135m", settings, prefix_cache_tokens=tokens)
        replies[label], seconds, prompt_tokens = play(model, spec, row, turns)
        figures[f"{label}_seconds"] = round(sum(seconds), 2)
        figures[f"{label}_last_turn_seconds"] = round(seconds[-1], 2)
        figures["last_prompt_tokens"] = prompt_tokens[-1]
        print(f"{label:9s} {len(seconds)} turns: {sum(seconds):6.1f} s in all, last turn {seconds[-1]:.2f} s "
              f"({prompt_tokens[-1]} prompt tokens)")
        model.close()
    figures["speedup"] = round(figures["uncached_seconds"] / figures["cached_seconds"], 2)
    figures["same_replies"] = replies["cached"] == replies["uncached"]
    print(f"speed-up {figures['speedup']}x; same replies: {figures['same_replies']}")
    print(json.dumps(figures))
