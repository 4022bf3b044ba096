"""Local Hugging Face transformers backend.

Loads a checkpoint folder (``config.json`` + weights + tokenizer), a LoRA adapter folder
(``adapter_config.json``: the base model is loaded, then the adapter with peft) or the embedded default model.
Weights are only ever read from local folders (``local_files_only=True``): nothing is downloaded.

``generate`` answers a batch with ONE ``model.generate`` call: conversations are merged (consecutive
same-role messages), rendered with the tokenizer's chat template (``add_generation_prompt=True``),
left-padded, decoded greedily when the temperature is 0 and sampled otherwise. A conversation that does not
fit (prompt tokens + ``max_tokens`` > context size) gets ``error_kind="context"``; the others are answered.
Results carry the reply's token ids as sampled, and the prompt's with ``keep_prompt_tokens``; not their
logprobs: transformers applies the sampling
warpers (temperature, top-k/p) after any logits processor we could pass, so only ``output_scores`` sees the
sampling distribution, and it keeps batch × steps × vocabulary floats (SmolLM2: 16 rows × 100 steps × 49k
≈ 315 MB a call) — too much for a field nobody needs yet (TRL computes its own).

torch, transformers and peft are imported inside the methods, never at module import.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.core.messages import merge_messages

log = logging.getLogger("playpen.models")

FALLBACK_CONTEXT = 2048


def available_cpus() -> int:
    """CPUs this process may use (affinity mask and cgroup quota), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS/Windows
        count = os.cpu_count() or 1
    try:  # cgroup v2 CPU quota, e.g. "200000 100000" = 2 CPUs
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def threads_from_env() -> int:
    """The CPU threads ``$PLAYPEN_THREADS`` asks for (0: not set)."""
    return int(os.environ.get("PLAYPEN_THREADS") or 0)


def default_threads() -> int:
    """CPU threads for generation: one core is left to the engine, the game masters and the OS.

    On a busy machine an oversubscribed OpenMP pool is several times slower than fewer threads (measured on 2
    cores: 2 threads 4 tok/s, 1 thread 28 tok/s while other processes ran); override with ``threads`` in the
    registry entry or ``$PLAYPEN_THREADS``.
    """
    return max(1, available_cpus() - 1)


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def is_checkpoint_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / "config.json").is_file() or is_adapter_dir(path)


def resolve_adapter_base(adapter: Path, base: str | Path | None) -> Path:
    """The local folder of the base model a LoRA adapter was trained on."""
    from playpen.models.embedded import EMBEDDED_NAME, prepare_embedded_model

    if base is None:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        base = config.get("base_model_name_or_path")
    if not base:
        raise PlaypenError(f'LoRA adapter {adapter} does not name its base model; set "base" in its registry entry')
    candidate = Path(str(base)).expanduser()
    if not candidate.is_absolute() and not candidate.is_dir():
        candidate = (adapter / candidate) if (adapter / candidate).is_dir() else candidate
    if candidate.is_dir():
        return candidate
    if str(base) == EMBEDDED_NAME or candidate.name == EMBEDDED_NAME:
        return prepare_embedded_model()  # trained on the embedded model whose cache was cleared
    raise PlaypenError(
        f"the base model '{base}' of LoRA adapter {adapter} is not a local folder (playpen never downloads "
        'weights); download it yourself and set "base" to its folder in the model\'s registry entry'
    )


def _torch_dtype(torch: Any, dtype: Any, device: str) -> Any:
    if dtype is None or dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32  # bf16 matmuls are slow on most CPUs
    if isinstance(dtype, str):
        value = getattr(torch, dtype.replace("torch.", ""), None)
        if value is None or not isinstance(value, torch.dtype):
            raise PlaypenError(f"unknown dtype '{dtype}' (use float32, bfloat16, float16 or auto)")
        return value
    return dtype


#: a batch is split where left padding would more than double its prompt tokens ...
PADDING_SLACK = 2.0
#: ... unless it holds fewer padded tokens than this (short prompts are cheap to pad; each split costs its own
#: decoding loop)
MIN_SPLIT_TOKENS = 2048

Row = TypeVar("Row", bound=tuple)

#: memory for attention keys/values kept from earlier single-conversation calls (see ``PrefixCache``) ...
PREFIX_CACHE_BYTES = 1 << 30
#: ... or this many tokens where the model's config does not tell the size of a token's keys/values
PREFIX_CACHE_TOKENS = 16384
#: a cached conversation is reused only if it shares at least this many tokens with the new prompt
MIN_REUSED_PREFIX = 256


def length_buckets(rows: list[Row], max_rows: int | None = None) -> list[list[Row]]:
    """Split ``(index, prompt, token ids)`` rows into batches of similar prompt length.

    Left padding makes every row of a batch as long as its longest prompt, and a CPU spends its time on those
    padded tokens: one 6,000-token adventuregame prompt batched with thirteen 500-token prompts would cost 14 ×
    6,000 tokens of prefill instead of 12,500. Rows are sorted by length and a new batch starts where padding
    would exceed ``PADDING_SLACK`` times the real tokens (or at ``max_rows``).
    """
    batches: list[list[Row]] = []
    current: list[Row] = []
    real = 0
    for row in sorted(rows, key=lambda r: len(r[2])):
        length = len(row[2])
        padded = (len(current) + 1) * length  # sorted: the new row is the longest
        too_wide = padded > MIN_SPLIT_TOKENS and padded > PADDING_SLACK * (real + length)
        if current and ((max_rows and len(current) >= max_rows) or too_wide):
            batches.append(current)
            current, real = [], 0
        current.append(row)
        real += length
    if current:
        batches.append(current)
    return batches


class PrefixCache:
    """Attention keys/values of recent single conversations, so that the next turn of a conversation only
    computes its new tokens.

    A multi-turn game sends the whole history every turn; when one long episode is left (adventuregame's 50
    turns, the tail of a run) the model would otherwise recompute thousands of prompt tokens per turn
    (measured: a 3,200-token turn took 22.3 s on one CPU thread from scratch, 2.8 s on top of the previous
    turn's cache, with the same greedy answer). Entries are keyed by their token ids; a new prompt takes the
    entry with the longest common prefix, cropped to it. Oldest entries go first once ``max_tokens`` are held.
    """

    def __init__(self, max_tokens: int = PREFIX_CACHE_TOKENS):  # HuggingFaceModel sizes it by memory
        self.max_tokens = max_tokens
        self.entries: list[tuple[list[int], Any]] = []  # oldest first
        self.hits = 0

    def take(self, ids: list[int]) -> Any:
        """The cache with the longest reusable prefix of ``ids`` (removed from the store, cropped), or None."""
        best, best_common = None, 0
        for index, (cached_ids, _) in enumerate(self.entries):
            common = _common_prefix(cached_ids, ids)
            if common > best_common:
                best, best_common = index, common
        best_common = min(best_common, len(ids) - 1)  # at least one new token must go through the model
        if best is None or best_common < MIN_REUSED_PREFIX:
            return None
        cached_ids, cache = self.entries.pop(best)
        if best_common < len(cached_ids):
            cache.crop(best_common - len(cached_ids))  # a negative value drops that many tokens from the end
        self.hits += 1
        return cache

    def put(self, ids: list[int], cache: Any) -> None:
        length = cache.get_seq_length()
        if length > self.max_tokens:
            return
        self.entries.append((ids[:length], cache))
        while sum(len(i) for i, _ in self.entries) > self.max_tokens:
            self.entries.pop(0)

    def clear(self) -> None:
        self.entries.clear()


def prefix_cache_budget(config: Any, element_bytes: int) -> int:
    """How many tokens of keys/values fit in ``PREFIX_CACHE_BYTES`` for a model with this config (SmolLM2-135M
    in float32: 46 KB a token, 23k tokens; an 8B model in bfloat16: 128 KB a token, 8k tokens)."""
    config = getattr(config, "text_config", None) or config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (
        getattr(config, "hidden_size", 0) // heads if heads else None)
    if not all(isinstance(v, int) and v > 0 for v in (layers, kv_heads, head_dim)):
        return PREFIX_CACHE_TOKENS
    return PREFIX_CACHE_BYTES // (2 * layers * kv_heads * head_dim * element_bytes)


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = min(len(a), len(b))
    return next((i for i in range(length) if a[i] != b[i]), length)


class HuggingFaceModel(Model):
    """A causal LM run in-process with transformers. ``model`` and ``tokenizer`` are public for reuse
    (e.g. by the training recipes)."""

    batched = True
    concurrent = False

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        settings: GenerationSettings | None = None,
        name: str | None = None,
        base: str | Path | None = None,
        dtype: Any = None,
        device: str | None = None,
        context_size: int | None = None,
        threads: int | None = None,
        chat_template: str | None = None,
        max_batch_size: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        model: Any = None,
        tokenizer: Any = None,
        prefix_cache_tokens: int | None = None,
        keep_prompt_tokens: bool = False,
    ):
        super().__init__(settings)
        import torch

        self.max_batch_size = max_batch_size
        self.top_p = top_p
        #: put the prompt's token ids into every result (GRPO's learner): 36 bytes a token held as long as the
        #: result (a run keeps them all, against ~4 bytes of prompt text), so only when asked
        self.keep_prompt_tokens = keep_prompt_tokens
        #: rows of a batch that ask the same prompt share its prefill (``_shared_prefill``)
        self.share_prefill = True
        self.adapter: Path | None = None
        self.path: Path | None = None
        reused = model is not None or tokenizer is not None
        if reused:
            # objects that are already loaded (e.g. the policy being trained): used as they are, not modified
            # (left padding is done here, not through the tokenizer's padding_side)
            if model is None or tokenizer is None:
                raise ValueError("pass both model and tokenizer, or neither")
            self.model, self.tokenizer = model, tokenizer
            self.device = str(next(model.parameters()).device)
            self.name = name or str(getattr(model.config, "_name_or_path", "") or "model")
        else:
            self.model, self.tokenizer = self._load(path, base, dtype, device)
            self.name = name or (self.adapter or self.path or Path("model")).name
            self.tokenizer.padding_side = "left"
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        if chat_template:
            self.tokenizer.chat_template = chat_template
        if not getattr(self.tokenizer, "chat_template", None):
            raise PlaypenError(
                f'the tokenizer of {self.path or self.name} has no chat template; set "chat_template" in the '
                "model's registry entry (a Jinja template string)"
            )
        wanted = threads or threads_from_env()
        #: the thread count was chosen (the entry's ``threads`` or ``$PLAYPEN_THREADS``), not defaulted
        self.threads_chosen = bool(wanted)
        if not wanted and not reused and self.device == "cpu":
            wanted = default_threads()
        if wanted and wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
        self.context_size = context_size or self._context_size()
        self._stop_ids = self._end_of_turn_ids()
        pad = self.tokenizer.pad_token_id
        self._pad_id = pad if isinstance(pad, int) else (self._stop_ids[0] if self._stop_ids else 0)
        if seed is not None:
            torch.manual_seed(seed)
        # objects passed in may be trained between calls (GRPO's policy): keys/values computed earlier go stale
        tokens = prefix_cache_tokens
        if tokens is None:
            tokens = prefix_cache_budget(self.model.config, getattr(self.model.dtype, "itemsize", 4))
        self.prefix_cache = PrefixCache(tokens) if tokens > 0 and not reused else None

    # ------------------------------------------------------------------ loading
    def _load(
        self, path: str | Path | None, base: str | Path | None, dtype: Any, device: str | None
    ) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from playpen.models.embedded import EMBEDDED_NAME, prepare_embedded_model

        if path is None or str(path) == EMBEDDED_NAME:
            path = prepare_embedded_model()
        path = Path(path).expanduser()
        if not path.is_dir():
            raise PlaypenError(f"model folder not found: {path}")
        if is_adapter_dir(path):
            self.adapter = path
            self.path = resolve_adapter_base(path, base)
        elif (path / "config.json").is_file():
            self.path = path
        else:
            raise PlaypenError(
                f"{path} is neither a transformers checkpoint (config.json) nor a LoRA adapter (adapter_config.json)"
            )
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = _torch_dtype(torch, dtype, self.device)
        tokenizer_dir = (
            self.adapter if self.adapter and (self.adapter / "tokenizer_config.json").is_file() else self.path
        )
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=torch_dtype, local_files_only=True)
        except OSError as error:
            raise PlaypenError(f"cannot load the model in {self.path}: {error}") from error
        if self.adapter is not None:
            try:
                from peft import PeftModel
            except ImportError as error:
                raise PlaypenError(f"loading the LoRA adapter {self.adapter} needs peft: `pip install peft`") from error
            model = PeftModel.from_pretrained(model, str(self.adapter), is_trainable=False)
        model.to(self.device)
        model.eval()
        self._fix_end_of_turn(tokenizer, model)
        return model, tokenizer

    @staticmethod
    def _fix_end_of_turn(tokenizer: Any, model: Any) -> None:
        """ChatML models must stop at ``<|im_end|>`` (transformers 5.17 reads a wrong eos from GGUF files)."""
        vocab = tokenizer.get_vocab()
        if "<|im_end|>" in vocab and tokenizer.eos_token == "<|im_start|>":
            tokenizer.eos_token = "<|im_end|>"
            if tokenizer.pad_token in (None, "<|im_start|>"):
                tokenizer.pad_token = "<|im_end|>"

    def use_every_core(self) -> None:
        """For a process whose only work is this model's generation (``playpen experiment``'s evaluations, which
        run alone, as its training does): torch gets every CPU, not the default's one fewer (1.7-2.3x faster on 2
        idle cores, docs/training.md), unless the thread count was chosen."""
        import torch

        if self.device == "cpu" and not self.threads_chosen:
            torch.set_num_threads(available_cpus())

    def _context_size(self) -> int:
        config = getattr(self.model, "config", None)
        for source in (config, getattr(config, "text_config", None)):
            for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
                value = getattr(source, key, None)
                if isinstance(value, int) and value > 0:
                    return value
        length = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(length, int) and 0 < length < 1_000_000:
            return length
        return FALLBACK_CONTEXT

    def _end_of_turn_ids(self) -> list[int]:
        ids: list[int] = []
        candidates = [self.tokenizer.eos_token_id]
        generation_config = getattr(self.model, "generation_config", None)
        eos = getattr(generation_config, "eos_token_id", None)
        candidates += eos if isinstance(eos, list) else [eos]
        for token_id in candidates:
            if isinstance(token_id, int) and token_id not in ids:
                ids.append(token_id)
        return ids

    # ------------------------------------------------------------------ generation
    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt string the model sees for a conversation (merged, chat template, generation prompt)."""
        return self.tokenizer.apply_chat_template(merge_messages(messages), tokenize=False, add_generation_prompt=True)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        max_new = int(self.settings.max_tokens)
        pending: list[tuple[int, str, list[int]]] = []
        for index, request in enumerate(requests):
            try:
                prompt = self.render(request.messages)
                ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            except Exception as error:  # a template that rejects the conversation, ...
                results[index] = GenerationResult(
                    error=f"cannot build the prompt: {type(error).__name__}: {error}", error_kind="backend"
                )
                continue
            record = self._prompt_record(prompt)
            if len(ids) + max_new > self.context_size:
                results[index] = GenerationResult(
                    prompt=record,
                    error_kind="context",
                    error=(
                        f"context exceeded: {len(ids)} prompt tokens + max_tokens {max_new} > context size "
                        f"{self.context_size} of {self.name}"
                    ),
                    usage={"prompt_tokens": len(ids)},
                )
                continue
            pending.append((index, prompt, ids))
        for chunk in length_buckets(pending, self.max_batch_size):
            for (index, _, _), result in zip(chunk, self._generate_rows(chunk, max_new)):
                results[index] = result
        return [
            r if r is not None else GenerationResult(error="internal error: no result", error_kind="backend")
            for r in results
        ]

    def _prompt_record(self, prompt: str) -> dict[str, Any]:
        return {
            "inputs": prompt,
            "max_new_tokens": int(self.settings.max_tokens),
            "temperature": float(self.settings.temperature),
        }

    def _generate_rows(self, rows: list[tuple[int, str, list[int]]], max_new: int) -> list[GenerationResult]:
        import torch

        if not rows:
            return []
        try:
            return self._generate_batch(rows, max_new)
        except torch.cuda.OutOfMemoryError as error:
            if len(rows) == 1:
                return [
                    GenerationResult(
                        prompt=self._prompt_record(rows[0][1]),
                        error_kind="backend",
                        error=f"out of GPU memory for one conversation: {error}",
                    )
                ]
            torch.cuda.empty_cache()
            half = len(rows) // 2
            log.warning("out of memory with a batch of %d; retrying as %d + %d", len(rows), half, len(rows) - half)
            return self._generate_rows(rows[:half], max_new) + self._generate_rows(rows[half:], max_new)
        except Exception as error:  # keep the engine running: every row of this batch errors
            message = f"generation failed: {type(error).__name__}: {error}"
            return [
                GenerationResult(prompt=self._prompt_record(p), error=message, error_kind="backend") for _, p, _ in rows
            ]

    def _generate_batch(self, rows: list[tuple[int, str, list[int]]], max_new: int) -> list[GenerationResult]:
        import torch

        width = max(len(ids) for _, _, ids in rows)  # left padding: every prompt ends where generation starts
        input_ids = [[self._pad_id] * (width - len(ids)) + ids for _, _, ids in rows]
        attention = [[0] * (width - len(ids)) + [1] * len(ids) for _, _, ids in rows]
        batch = {
            "input_ids": torch.tensor(input_ids, dtype=torch.long, device=self.device),
            "attention_mask": torch.tensor(attention, dtype=torch.long, device=self.device),
        }
        temperature = float(self.settings.temperature)
        options: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": self._pad_id,
            "eos_token_id": self._stop_ids or None,
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature)
            if self.top_p is not None:
                options["top_p"] = self.top_p
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        single = len(rows) == 1 and self.prefix_cache is not None
        if single:
            cache = self.prefix_cache.take(rows[0][2])
            if cache is not None:
                options["past_key_values"] = cache
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                if not single and self.share_prefill:
                    shared = self._shared_prefill(rows, batch)
                    if shared is not None:
                        options["past_key_values"] = shared
                try:
                    output = self.model.generate(**batch, **options, return_dict_in_generate=True)
                except Exception as error:
                    if "past_key_values" not in options:
                        raise
                    # a cache layout this model does not accept: answer without it, and stop caching
                    log.warning("reusing cached keys/values failed for %s (%s); prefix caching and shared "
                                "prefill are now off", self.name, error)
                    self.prefix_cache = None
                    self.share_prefill = False
                    del options["past_key_values"]
                    output = self.model.generate(**batch, **options, return_dict_in_generate=True)
        finally:
            if was_training:
                self.model.train()
        sequences = output.sequences
        if single and getattr(output.past_key_values, "crop", None) is not None:
            self.prefix_cache.put(sequences[0].tolist(), output.past_key_values)
        new_tokens = sequences[:, batch["input_ids"].shape[1] :].tolist()
        stops = set(self._stop_ids)
        results = []
        for (_, prompt, ids), tokens in zip(rows, new_tokens):
            length = next((i for i, t in enumerate(tokens) if t in stops), None)
            finish = "length" if length is None else "stop"
            # as sampled: up to and including the stop token (what follows it in a batch is padding)
            sampled = tokens if length is None else tokens[: length + 1]
            text = self.tokenizer.decode(sampled[:length], skip_special_tokens=True).strip()
            results.append(
                GenerationResult(
                    text=text,
                    prompt=self._prompt_record(prompt),
                    raw={"response": text, "finish_reason": finish},
                    usage={"prompt_tokens": len(ids), "completion_tokens": len(sampled)},
                    prompt_token_ids=ids if self.keep_prompt_tokens else None,
                    token_ids=sampled,
                )
            )
        return results

    def _shared_prefill(self, rows: list[Row], batch: dict[str, Any]) -> Any:
        """Keys/values of the batch's prompts (all but their last token) computed once per *distinct* prompt and
        copied to every row that asks it, or None when all prompts differ.

        A GRPO group asks its first prompt ``group_size`` times; prefill is most of a CPU's generation time
        (``bench_batching.py``), so one prefill with G continuations saves (G − 1)/G of it. Positions follow
        the left padding exactly as ``generate`` computes them, so the continuations are the tokens a separate
        prefill gives."""
        import torch

        first_row: dict[tuple[int, ...], int] = {}
        owners = [first_row.setdefault(tuple(ids), index) for index, (_, _, ids) in enumerate(rows)]
        if len(first_row) == len(rows) or batch["input_ids"].shape[1] < 2:
            return None
        distinct = list(first_row.values())
        chosen = torch.tensor(distinct, device=self.device)
        ids = batch["input_ids"].index_select(0, chosen)[:, :-1]
        mask = batch["attention_mask"].index_select(0, chosen)[:, :-1]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        try:
            cache = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                               use_cache=True).past_key_values
            slot = {row: number for number, row in enumerate(distinct)}
            cache.reorder_cache(torch.tensor([slot[owner] for owner in owners], device=self.device))
        except Exception as error:  # a model or cache without these arguments: every row prefills on its own
            log.warning("shared prefill failed for %s (%s); it is now off", self.name, error)
            self.share_prefill = False
            return None
        return cache

    # ------------------------------------------------------------------ misc
    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(
            {
                "backend": "huggingface",
                "path": str(self.path) if self.path else None,
                "context_size": self.context_size,
                "device": self.device,
                "dtype": str(getattr(self.model, "dtype", "")).replace("torch.", ""),
            }
        )
        if self.adapter:
            info["adapter"] = str(self.adapter)
        return info

    def close(self) -> None:
        import gc

        if self.prefix_cache is not None:
            self.prefix_cache.clear()
        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass
