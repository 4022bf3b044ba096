"""Embedded model on this CPU: episodes per minute at batch 1, 16 and 32, and the rollout engine's overhead
compared with raw batched ``generate`` on exactly the same prompts.

Usage: python benchmarks/bench_batching.py [game] [episodes] [max_tokens]
"""

import json
import sys
import time

from playpen.core.instances import iter_rows, load_instances
from playpen.games import get_game
from playpen.models.base import GenerationSettings
from playpen.models.registry import load_model
from playpen.rollout.engine import EpisodeJob, run_episodes


class Recording:
    """Wraps a model: records every batch it is asked and the time spent inside ``generate``."""

    def __init__(self, model):
        self.model = model
        self.batches = []
        self.seconds = 0.0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, requests):
        start = time.perf_counter()
        results = self.model.generate(requests)
        self.seconds += time.perf_counter() - start
        self.batches.append(requests)
        return results


def play(spec, rows, model, batch_size):
    jobs = [EpisodeJob(spec, row, {role: model for role in spec.roles}) for row in rows]
    start = time.perf_counter()
    results = run_episodes(jobs, batch_size=batch_size)
    return time.perf_counter() - start, results


if __name__ == "__main__":
    game = sys.argv[1] if len(sys.argv) > 1 else "referencegame"
    episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    max_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 48
    spec = get_game(game)
    rows = list(iter_rows(game, load_instances(spec.instances_file("test"))))[:episodes]
    model = load_model("smollm2-135m", GenerationSettings(temperature=0.0, max_tokens=max_tokens))
    play(spec, rows[:2], model, 2)  # warm-up
    figures = {"game": game, "episodes": len(rows), "max_tokens": max_tokens}
    for batch_size in (1, 16, 32):
        recording = Recording(model)
        recording.batched = True
        seconds, results = play(spec, rows, recording, batch_size)
        figures[f"episodes_per_min_b{batch_size}"] = round(len(results) * 60 / seconds, 2)
        print(f"batch {batch_size:2d}: {len(results)} episodes in {seconds:.1f} s = "
              f"{len(results) * 60 / seconds:.1f} episodes/min")
        if batch_size == 16:
            start = time.perf_counter()
            for batch in recording.batches:
                model.generate(batch)
            raw = time.perf_counter() - start
            figures["engine_seconds_b16"] = round(seconds, 2)
            figures["raw_generate_seconds_b16"] = round(raw, 2)
            figures["engine_overhead_b16"] = round(seconds / raw - 1, 3)
            print(f"  same prompts through raw model.generate: {raw:.1f} s -> engine overhead "
                  f"{seconds / raw - 1:+.1%}")
    figures["speedup_b16_vs_b1"] = round(figures["episodes_per_min_b16"] / figures["episodes_per_min_b1"], 2)
    print(f"batch 16 plays {figures['speedup_b16_vs_b1']}x more episodes per minute than batch 1")
    print(json.dumps(figures))
