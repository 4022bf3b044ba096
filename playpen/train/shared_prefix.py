"""GRPO's log-probability passes with one forward per shared prefix (imports torch and TRL: load lazily).

The episodes of a GRPO group start from the same prompt (with branching: the same trunk too), and TRL scores each
row of a batch on its own: the shared prefix, usually most of a row's tokens, is run forward and backward once per
episode, and on the CPU its language-model head scores every prefix position although only the completion's are
kept. Here the rows of a chunk that share a prefix run it once, as one row whose keys and values are
repeated for the others; each row then runs only its own suffix against them, and the head scores only the
positions TRL keeps. The log-probabilities are the same (each row attends to the same keys, values and positions)
and so are the gradients: the backward sums the rows' gradients through the repeated keys and values into the one
prefix pass, as the separate passes would add them up. ``tests/train/test_shared_prefix.py`` checks both against
TRL's own pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch
from trl import GRPOTrainer
from trl.kernels import ChunkedLogProbFunction

#: rows share a pass only if their common prefix is at least this long (shorter: the extra pass costs more)
MIN_SHARED_TOKENS = 16
#: vocabulary columns per tile of TRL's chunked log-prob kernel (the value TRL's own head uses)
HEAD_CHUNK = 32768
#: config fields that change the logits beyond ``head(hidden) / temperature``; a model with any of them set is
#: scored by TRL's own pass, which knows them
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                     "logits_scaling")


def prefix_groups(input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                  min_shared: int = MIN_SHARED_TOKENS) -> list[tuple[list[int], int]]:
    """``(rows, shared)``: the rows of a batch grouped by a common prefix of at least ``min_shared`` tokens (equal
    ids and attention mask), in any order (TRL shuffles a step's rows before cutting micro-batches), with the
    length of the prefix they all share; a row without partners forms a group alone (``shared`` 0). A row whose
    prefix in common with a group is much shorter than the group's (the chat template's system turn, say) starts
    a group of its own. ``shared`` stops one token short of the rows' end, so every row keeps a suffix."""
    rows, length = input_ids.shape
    keys = [tuple(zip(attention_mask[row].tolist(), input_ids[row].tolist())) for row in range(rows)]
    order = sorted(range(rows), key=keys.__getitem__)  # rows with a common prefix end up next to each other
    groups: list[tuple[list[int], int]] = []
    members, shared = [order[0]], 0
    for row in [*order[1:], None]:
        if row is not None:
            equal = (input_ids[row] == input_ids[members[0]]) & (attention_mask[row] == attention_mask[members[0]])
            common = int(equal.int().cumprod(0).sum())
            candidate = common if len(members) == 1 else min(shared, common)
            # join if the prefix the new row no longer recomputes outweighs what the members now recompute
            if candidate >= min_shared and (len(members) - 1) * (shared - candidate) <= candidate:
                members.append(row)
                shared = candidate
                continue
        groups.append((members, min(shared, length - 1) if len(members) > 1 else 0))
        if row is not None:
            members, shared = [row], 0
    return groups


def causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The causal LM inside a PEFT wrapper (its LoRA layers stay in place), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def shareable(model: torch.nn.Module) -> bool:
    """Whether ``completion_logps`` reproduces TRL's scores for this model: a plain text causal LM whose logits
    are ``head(hidden)``."""
    lm = causal_lm(model)
    config = lm.config.get_text_config()
    return (config is lm.config and getattr(lm, lm.base_model_prefix, None) is not None
            and lm.get_output_embeddings() is not None
            and all(getattr(config, name, None) in (None, 1.0) for name in _LOGIT_TRANSFORMS))


def _hidden_states(backbone: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   shared: int) -> torch.Tensor:
    """The backbone's last hidden states of every row: the first ``shared`` positions computed once, and only the
    span in which some row has a real token (zeros elsewhere: a batch pads its prompts on the left to its longest
    and its completions on the right to its longest, often another group's; those positions are not scored)."""
    rows, length = input_ids.shape
    real = attention_mask.any(0).nonzero()
    # rotary position embeddings depend on relative positions only, so the span may start at position 0; a model
    # with absolute positions keeps its left padding
    start = int(real.min()) if hasattr(backbone, "rotary_emb") else 0
    end = max(int(real.max()) + 1, shared + 1)
    input_ids, attention_mask = input_ids[:, start:end], attention_mask[:, start:end]
    shared = max(shared - start, 0)
    if shared == 0:
        hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    else:
        prefix = backbone(input_ids=input_ids[:1, :shared], attention_mask=attention_mask[:1, :shared],
                          use_cache=True)
        cache = prefix.past_key_values
        cache.batch_repeat_interleave(rows)
        # positions continue from the cache (shared, shared + 1, ...) exactly as in one pass over the whole row
        suffix = backbone(input_ids=input_ids[:, shared:], attention_mask=attention_mask, past_key_values=cache,
                          use_cache=True).last_hidden_state
        hidden = torch.cat([prefix.last_hidden_state.expand(rows, -1, -1), suffix], dim=1)
    return torch.nn.functional.pad(hidden, (0, 0, start, length - end))


def completion_logps(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     logits_to_keep: int, *, temperature: float, compute_entropy: bool, cast_head_to_fp32: bool,
                     groups: Sequence[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probabilities (and entropies) of the last ``logits_to_keep`` tokens of every row at ``temperature``,
    as TRL's fused head returns them (0 where the token is padding), each group of rows (``prefix_groups``)
    sharing its prefix pass."""
    lm = causal_lm(model)
    backbone, head = getattr(lm, lm.base_model_prefix), lm.get_output_embeddings()
    # hidden state j predicts token j + 1: the kept tokens L-K..L-1 are predicted by positions L-K-1..L-2
    length = input_ids.size(1)
    order = [row for rows, _ in groups for row in rows]
    hidden = torch.cat([_hidden_states(backbone, input_ids[rows], attention_mask[rows], shared)[
        :, length - logits_to_keep - 1:length - 1] for rows, shared in groups])
    hidden = hidden[torch.tensor(order).argsort()]  # back to the batch's order
    targets = input_ids[:, length - logits_to_keep:]
    valid = attention_mask[:, length - logits_to_keep:].bool()
    hidden = hidden[valid]
    autocast = torch.autocast(hidden.device.type, enabled=False) if cast_head_to_fp32 else nullcontext()
    if cast_head_to_fp32:
        hidden = hidden.float()
    outputs = ("log_probs", "entropy") if compute_entropy else ("log_probs",)
    with autocast:
        scored = ChunkedLogProbFunction.apply(hidden, head.weight, head.bias, targets[valid], temperature,
                                              HEAD_CHUNK, None, 1.0, outputs)
    # masked_scatter keeps a chunk without valid tokens connected to the graph (a zero gradient, not an error)
    logps = scored[0].new_zeros(valid.shape).masked_scatter(valid, scored[0])
    entropy = scored[1].new_zeros(valid.shape).masked_scatter(valid, scored[1]) if compute_entropy else None
    return logps, entropy


class SharedPrefixGRPOTrainer(GRPOTrainer):
    """TRL's GRPO trainer whose log-probability passes share each group's prefix (``completion_logps``). Falls
    back to TRL's own pass where that cannot be reproduced: several training processes (the wrapped model's
    forward must run for the gradients to be synchronised), multimodal inputs, MoE auxiliary losses, models whose
    logits are scaled or capped."""

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **multimodal):
        if (self.accelerator.num_processes > 1 or compute_aux_loss
                or any(value is not None for value in multimodal.values()) or not shareable(model)):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **multimodal)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, mask = input_ids[start:start + batch_size], attention_mask[start:start + batch_size]
            with self.accelerator.autocast():
                chunk_logps, chunk_entropy = completion_logps(
                    model, ids, mask, logits_to_keep, temperature=self.temperature, compute_entropy=compute_entropy,
                    cast_head_to_fp32=self.args.cast_lm_head_to_fp32, groups=prefix_groups(ids, mask))
            logps.append(chunk_logps)
            entropies.append(chunk_entropy)
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None
