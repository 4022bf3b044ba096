"""Rollout engine against a local OpenAI-compatible server with 50 ms latency: concurrency 64 vs 1."""

import json

from playpen.rollout.bench import bench_rollout

if __name__ == "__main__":
    figures = bench_rollout("taboo", latency_ms=50, concurrency=64, episodes=256)
    print(f"{figures['episodes_per_s']} episodes/s vs ideal {figures['ideal_episodes_per_s']} "
          f"(efficiency {figures['efficiency']:.1%}), {figures['speedup_vs_sequential']}x sequential")
    print(json.dumps(figures))
