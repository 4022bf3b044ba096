"""The GRPO learner generating through TRL's vLLM engine (``use_vllm``; colocated, or TRL's server).

TRL owns the engine (``trainer.vllm_generation``) and syncs the policy's weights into it before each step's
rollout; this backend renders each waiting episode's messages with the learner's chat template and asks the engine
for one reply per prompt. Each reply is limited to GRPO's ``max_new_tokens`` *by vLLM* (TRL's engine would
otherwise generate up to ``max_completion_length``, the budget of a whole multi-turn conversation), and carries
the prompt's token ids, the sampled ids and their logprobs, so the rollout can hand TRL the sampling logprobs its
importance-sampling correction needs.

With several training processes in server mode vLLM gathers prompts across processes, so every process must call
``generate`` equally often: use one process, or games whose episodes take the same number of learner turns.
Colocate mode (one engine per process) has no such constraint, and runs on the CPU with vLLM's CPU build.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Any, Iterator

from playpen.core.messages import merge_messages
from playpen.models.base import GenerationRequest, GenerationResult, Model


@contextmanager
def reply_budget(generation: Any, max_tokens: int | None) -> Iterator[None]:
    """TRL's engine with ``max_tokens`` per reply for the calls inside (it reads its ``max_completion_length``)."""
    if not max_tokens:
        yield
        return
    budget = generation.max_completion_length
    generation.max_completion_length = max_tokens
    try:
        yield
    finally:
        generation.max_completion_length = budget


#: what TRL's colocate mode sets for its one-process vLLM engine (``vllm_generation``)
DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextmanager
def colocated_engine_scope() -> Iterator[None]:
    """Leaves the process as it found it after a GRPO run with a colocated vLLM engine.

    For its engine TRL sets ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_*`` and vLLM starts a one-process
    ``torch.distributed`` group. Left behind, the next trainer of the same process (an experiment's next stage)
    reads them as a distributed launch and wraps its model in DistributedDataParallel. On leaving, the process
    groups that the run started (vLLM's and torch's) are destroyed and the variables restored; drop the trainer's
    engine inside (``generation.llm = None``) so that its memory goes too. A process launched as distributed
    keeps its group."""
    import torch.distributed as dist

    saved = {name: os.environ.get(name) for name in DISTRIBUTED_ENV}
    started_here = not (dist.is_available() and dist.is_initialized())
    try:
        yield
    finally:
        if started_here:
            try:
                from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel
            except ImportError:
                pass
            else:
                destroy_model_parallel()
                destroy_distributed_environment()
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        gc.collect()


def reload_layerwise(generation: Any) -> None:
    """Makes TRL's colocated weight sync work with vLLM's CPU build.

    TRL syncs the policy by calling ``load_weights`` on vLLM's live model. vLLM's CPU build repacks each linear
    layer's weights for its kernels once they are loaded, and the repacked parameters have no weight loader, so
    that call fails (``'Parameter' object has no attribute 'weight_loader'``). vLLM's own in-place reload wraps
    the loading in its layerwise reload (the checkpoint layout restored, the weights loaded, then repacked into
    the same storage); ``generation.sync_weights`` does the same from here on. Other platforms and server mode
    are left as they are."""
    from vllm.platforms import current_platform

    if generation.mode != "colocate" or not current_platform.is_cpu():
        return
    from vllm.model_executor.model_loader.reload import finalize_layerwise_reload, initialize_layerwise_reload

    sync = generation.sync_weights

    def sync_weights() -> None:
        engine = generation.llm.llm_engine
        model = engine.model_executor.driver_worker.model_runner.model
        initialize_layerwise_reload(model)
        sync()
        finalize_layerwise_reload(model, engine.model_config)

    generation.sync_weights = sync_weights


class VLLMLearner(Model):
    """The learner as a batched ``Model`` over TRL's vLLM engine."""

    batched = True

    def __init__(self, trainer: Any, tokenizer: Any, max_new_tokens: int | None = None):
        super().__init__()
        self.name = "learner"
        self.trainer = trainer
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens

    @property
    def model(self) -> Any:  # for the train/eval mode switch around rollouts
        return self.trainer.accelerator.unwrap_model(self.trainer.model)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        prompts = []
        for request in requests:
            text = self.tokenizer.apply_chat_template(merge_messages(request.messages), tokenize=False,
                                                      add_generation_prompt=True)
            prompts.append(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        generation = self.trainer.vllm_generation
        with reply_budget(generation, self.max_new_tokens):
            _, completions, logprobs, _ = generation.generate(prompts=prompts, images=None, num_generations=1)
        results = []
        for index, (prompt, ids) in enumerate(zip(prompts, completions)):
            ids = list(ids)
            results.append(GenerationResult(text=self.tokenizer.decode(ids, skip_special_tokens=True).strip(),
                                            prompt_token_ids=prompt, token_ids=ids,
                                            logprobs=sampled(logprobs[index] if logprobs is not None else None, ids)))
        return results


def sampled(logprobs: Any, ids: list[int]) -> list[float] | None:
    """The sampled tokens' logprobs from TRL's per-token lists (``[[logprob], ...]`` with ``logprobs=0``, TRL's
    default); None when they are missing, not one per token, or top-N lists (which entry was sampled is not ours
    to guess). A logprob vLLM could not give (None, for NaN) becomes NaN, which TRL leaves out of its correction."""
    if not logprobs or len(logprobs) != len(ids):
        return None
    if not all(isinstance(p, (list, tuple)) and len(p) == 1 and (p[0] is None or isinstance(p[0], float))
               for p in logprobs):
        return None
    return [float("nan") if p[0] is None else p[0] for p in logprobs]
