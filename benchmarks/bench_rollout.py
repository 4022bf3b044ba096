"""Rollout engine vs a bare aiohttp loop (and the openai client, if installed) against a local
OpenAI-compatible server with 50 ms latency, at concurrency 1, 16 and 64; the clients take turns."""

import json

from playpen.testing.bench import bench_rollout, format_figures

if __name__ == "__main__":
    configs = []
    for concurrency in (1, 16, 64):
        figures = bench_rollout("taboo", latency_ms=50, concurrency=concurrency, repeats=5)
        print("\n".join(format_figures(figures)), flush=True)
        configs.append(figures)
    print(json.dumps(configs))
