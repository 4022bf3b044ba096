"""Where a GRPO step's time goes, and how far it is from the compute it cannot avoid.

    .venv/bin/python benchmarks/bench_grpo_step.py [--model smollm2-135m] [--games taboo,wordle_withclue]
        [--steps 3] [--group-size 8] [--batch-size 8] [--micro-batch-size 2] [--beta 0.0] [--max-new-tokens 48]
        [--trained-replies 1]

Runs ``--steps`` GRPO steps (after one warm-up step that is not counted) with the CPU recipe's settings and
splits each step into: the rollout (of which: the learner's generation, the rest = game masters, partners,
tokenisation), TRL's forwards without gradients (reference model when ``beta`` > 0, old policy when the batch
is reused), the training forwards, the backward passes, and the rest (optimizer, logging). The *compute limit*
is what the tokens trained on cost at the machine's measured matmul rate: 6 × parameters × tokens (forward 2,
backward 4 FLOPs per parameter and token) ÷ (FLOP/s of a large float32 matmul on all cores). The last line is
a JSON object with the split, the tokens and the ratio step time / compute limit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path


def matmul_rate(size: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of a float32 ``size`` × ``size`` matmul (best of three rounds)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start))
    return best


def distinct_tokens(sequences: list[list[int]]) -> int:
    """Tokens a pass must compute when every common prefix is computed once: the nodes of the sequences' trie
    (sorted, each sequence adds what it does not share with the one before)."""
    ordered = sorted(map(tuple, sequences))
    total = 0
    for before, sequence in zip([()] + ordered, ordered):
        common = next((i for i, (a, b) in enumerate(zip(before, sequence)) if a != b), min(len(before), len(sequence)))
        total += len(sequence) - common
    return total


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def wrap(self, owner, attribute: str, name_of):
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.time(name_of(*args, **kwargs)):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        seconds, counts = dict(self.seconds), dict(self.counts)
        self.seconds.clear()
        self.counts.clear()
        return seconds, counts


def prefill_ab(model, tokenizer, group: int, max_new_tokens: int, rounds: int = 3) -> dict[str, float]:
    """One group's first turn (taboo's WordGuesser, ``group`` copies of its first prompt, sampled) with shared
    and with separate prefills, interleaved round by round so that the machine's load weighs on both alike."""
    import torch

    import playpen
    from playpen.models.base import GenerationRequest, GenerationSettings
    from playpen.models.huggingface import HuggingFaceModel
    from playpen.models.registry import load_model

    env = playpen.make("taboo", role="WordGuesser", partners={"WordDescriber": load_model("scripted")},
                       split="train")
    messages, _ = env.reset(seed=0)
    learner = HuggingFaceModel(model=model, tokenizer=tokenizer, name="learner", keep_prompt_tokens=True,
                               settings=GenerationSettings(1.0, max_new_tokens))
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for shared in (True, False):
            learner.share_prefill = shared
            torch.manual_seed(0)
            start = time.perf_counter()
            learner.generate([GenerationRequest(messages)] * group)
            seconds[shared].append(time.perf_counter() - start)
    prompt = len(tokenizer(learner.render(messages), add_special_tokens=False)["input_ids"])
    return {"prompt_tokens": prompt, "shared_s": round(statistics.median(seconds[True]), 3),
            "separate_s": round(statistics.median(seconds[False]), 3),
            "speedup": round(statistics.median(seconds[False]) / statistics.median(seconds[True]), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--games", default="taboo,wordle_withclue")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--micro-batch-size", type=int, default=2)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--trained-replies", type=int, default=None,
                        help="Train only this many replies per episode (GRPOSettings.trained_replies; default all).")
    parser.add_argument("--no-shared-prefill", action="store_true",
                        help="Prefill every row of a batch on its own (the behaviour before shared prefill).")
    parser.add_argument("--use-vllm", action="store_true",
                        help="Generate with TRL's vLLM engine in colocate mode (run with the venv of make vllm-venv).")
    parser.add_argument("--no-shared-prefix-pass", action="store_true",
                        help="Score every row of the training passes on its own (TRL's pass, as before "
                             "playpen.train.shared_prefix).")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = args.output or Path(tempfile.mkdtemp(prefix="bench_grpo_step_"))
    os.environ["PLAYPEN_HOME"] = str(output / "registry")

    import torch
    from transformers import TrainerCallback

    from playpen.models.huggingface import HuggingFaceModel
    from playpen.models.vllm_learner import VLLMLearner
    from playpen.train.grpo import GRPOSettings, build_grpo

    games = [g for g in args.games.split(",") if g]
    roles = {"taboo": "WordGuesser"} if "taboo" in games else {}
    settings = GRPOSettings(games=games, roles=roles, partner="scripted", group_size=args.group_size,
                            batch_size=args.batch_size, micro_batch_size=args.micro_batch_size,
                            max_steps=args.steps + 1, learning_rate=5e-5, beta=args.beta,
                            temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                            max_completion_length=512, reward="main_score", abort_penalty=0.5,
                            trained_replies=args.trained_replies, evaluate=False, save_steps=10_000, seed=0,
                            use_vllm=args.use_vllm)
    if args.use_vllm:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    run = build_grpo(args.model, output / "run", settings, printer=None)
    trainer = run.trainer
    timers = Timers()
    parameters = sum(p.numel() for p in trainer.model.parameters())

    rollout = trainer.rollout_func

    def timed_rollout(prompts, owner):
        with timers.time("rollout"):
            out = rollout(prompts, owner)
        timers.counts["tokens"] += sum(len(p) + len(c) for p, c in zip(out["prompt_ids"], out["completion_ids"]))
        timers.counts["trained_tokens"] += sum(sum(m) for m in out["env_mask"])
        timers.counts["distinct_tokens"] += distinct_tokens([p + c for p, c in zip(out["prompt_ids"],
                                                                                  out["completion_ids"])])
        timers.counts["episodes"] += len(out["prompt_ids"])
        return out

    trainer.rollout_func = timed_rollout
    timers.wrap(HuggingFaceModel, "generate", lambda *a, **k: "generation")
    timers.wrap(VLLMLearner, "generate", lambda *a, **k: "generation")
    if args.no_shared_prefill:
        HuggingFaceModel.share_prefill = property(lambda self: False, lambda self, value: None)
    if args.no_shared_prefix_pass:
        from trl import GRPOTrainer

        type(trainer)._get_per_token_logps_and_entropies = GRPOTrainer._get_per_token_logps_and_entropies
    timers.wrap(trainer, "_get_per_token_logps_and_entropies",
                lambda *a, **k: "forward (train)" if torch.is_grad_enabled() else "forward (no grad)")
    timers.wrap(trainer.accelerator, "backward", lambda *a, **k: "backward")

    steps: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            timers.take()
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            total = time.perf_counter() - self.started
            seconds, counts = timers.take()
            steps.append({"total": total, **seconds, **counts})

    trainer.add_callback(StepTimer())
    trainer.train()
    counted = steps[1:] or steps

    def mean(key: str) -> float:
        return round(statistics.fmean(s.get(key, 0.0) for s in counted), 3)

    rate = matmul_rate()
    first_turn = prefill_ab(trainer.accelerator.unwrap_model(trainer.model), run.tokenizer, args.group_size,
                            args.max_new_tokens)
    tokens = mean("tokens")
    limit = 6 * parameters * tokens / rate
    distinct_limit = 6 * parameters * mean("distinct_tokens") / rate
    split = {key: mean(key) for key in ("total", "rollout", "generation", "forward (no grad)", "forward (train)",
                                        "backward")}
    split["rollout other"] = round(split["rollout"] - split["generation"], 3)
    split["rest"] = round(split["total"] - split["rollout"] - split["forward (no grad)"] - split["forward (train)"]
                          - split["backward"], 3)
    print(f"model {args.model} ({parameters / 1e6:.0f}M parameters), games {', '.join(games)}, "
          f"shared prefill {'off' if args.no_shared_prefill else 'on'}, "
          f"shared-prefix training passes {'off' if args.no_shared_prefix_pass else 'on'}, "
          f"generation {'vLLM colocate' if args.use_vllm else 'HF'}, "
          f"{args.batch_size} episodes per step, group {args.group_size}, beta {args.beta}, "
          f"trained replies {args.trained_replies or 'all'}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    for key, value in split.items():
        print(f"  {key:<18} {value:8.2f} s")
    print(f"  tokens per step (prompt + completion) {tokens:.0f}, of which trained {mean('trained_tokens'):.0f}, "
          f"distinct (every shared prefix once) {mean('distinct_tokens'):.0f}")
    print(f"  one group's first turn ({args.group_size} x {first_turn['prompt_tokens']} prompt tokens, sampled): "
          f"shared prefill {first_turn['shared_s']:.2f} s, separate {first_turn['separate_s']:.2f} s "
          f"({first_turn['speedup']:.2f}x)")
    print(f"  matmul rate {rate / 1e9:.1f} GFLOP/s -> compute limit {limit:.2f} s; "
          f"step / limit = {split['total'] / limit:.2f}; on the distinct tokens {distinct_limit:.2f} s, "
          f"step / limit = {split['total'] / distinct_limit:.2f}")
    print(json.dumps({"model": args.model, "games": games, "shared_prefill": not args.no_shared_prefill,
                      "steps": len(counted), "trained_replies": args.trained_replies, "split_s": split,
                      "tokens": tokens, "trained_tokens": mean("trained_tokens"), "parameters": parameters,
                      "first_turn": first_turn, "matmul_gflops": round(rate / 1e9, 1), "compute_limit_s": round(limit, 2),
                      "ratio": round(split["total"] / limit, 2), "distinct_tokens": mean("distinct_tokens"),
                      "distinct_compute_limit_s": round(distinct_limit, 2),
                      "distinct_ratio": round(split["total"] / distinct_limit, 2),
                      "shared_prefix_pass": not args.no_shared_prefix_pass, "use_vllm": args.use_vllm, "per_step": counted,
                      "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
