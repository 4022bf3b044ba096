"""A multi-turn conversation -> token ids with a mask that covers exactly the learner's own tokens.

Two ways. ``tokens_from_turns`` (what GRPO uses when the learner's backend reports tokens) takes each turn's
prompt token ids and generated token ids as recorded: the completion is, turn by turn, the tokens the
environment and the chat template added since the previous turn (mask 0) and the tokens the model sampled
(mask 1). That is only one sequence if every turn's prompt extends the previous prompt plus its reply (the
*extension property*); where it does not (a template that rewrites or drops earlier turns, a reply stored
differently from what was sampled), the trajectory ends after the last turn that fits, so no token is trained
in a context the model did not see.

``tokenise_conversation`` (for learners that report no tokens, e.g. programmatic ones in tests) re-renders the
messages. The chat template is rendered for every prefix of the conversation; the text between consecutive renderings
is one segment (a user turn with the next assistant header, or an assistant reply with its end-of-turn
token). Segments are tokenised one by one, so each token belongs to exactly one message; assistant segments
get mask 1, everything else (system prompt, game master and partner turns, headers) mask 0. With branching, the
first ``shared_replies`` replies are the history the whole group shares; they get mask 0 too (identical in every
episode of the group, they carry no signal relative to it). With ``trained_replies`` the trajectory ends after
that many trained replies: what follows them cannot change their loss (the model is causal), so it is not
computed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playpen.core.messages import Messages


@dataclass
class TokenisedConversation:
    prompt_ids: list[int]
    completion_ids: list[int]
    #: 1 for the learner's tokens in ``completion_ids``, 0 for game master / partner tokens
    mask: list[int]
    #: ``tokens_from_turns``: the first turn left out because its prompt does not extend the one before
    cut_at_turn: int | None = None
    #: why that turn's prompt does not extend: "rewritten" (the earlier prompt itself changed: the chat template
    #: is not prefix-preserving) or "reply" (the reply reads back as other tokens than were sampled)
    cut_reason: str | None = None
    #: one per token of ``completion_ids`` where the learner's backend reported the sampled tokens' logprobs: those
    #: logprobs for its own tokens, 0.0 for the tokens it read (mask 0, never used); None otherwise
    logprobs: list[float] | None = None


@dataclass(frozen=True)
class Turn:
    """One generation of the learner: the prompt it read and the tokens it sampled."""

    prompt_ids: list[int]
    token_ids: list[int]
    #: the sampled tokens' logprobs, one per token id (None: not reported)
    logprobs: list[float] | None = None


def tokens_from_turns(turns: list[Turn], max_completion_tokens: int | None = None,
                      shared_replies: int = 0, trained_replies: int | None = None) -> TokenisedConversation:
    """The learner's trajectory from its recorded turns; the first ``shared_replies`` replies get mask 0
    (branching: the history the group shares), and it ends after ``trained_replies`` replies past them (None:
    all). Checks the extension property at every turn (see above)."""
    if not turns:
        raise ValueError("no turn to build a trajectory from")
    prompt_ids = list(turns[0].prompt_ids)
    completion: list[int] = []
    mask: list[int] = []
    with_logprobs = all(t.logprobs is not None and len(t.logprobs) == len(t.token_ids) for t in turns)
    logprobs: list[float] = []
    seen = prompt_ids  # everything the model has read or written so far
    previous_prompt = len(seen)
    cut_at = reason = None
    for index, turn in enumerate(turns):
        if turn.prompt_ids[: len(seen)] != seen:
            rewritten = turn.prompt_ids[:previous_prompt] != seen[:previous_prompt]
            cut_at, reason = index, ("rewritten" if rewritten else "reply")
            break
        added = turn.prompt_ids[len(seen):]
        completion += added + turn.token_ids
        mask += [0] * len(added) + [0 if index < shared_replies else 1] * len(turn.token_ids)
        if with_logprobs:
            logprobs += [0.0] * len(added) + list(turn.logprobs or ())
        previous_prompt = len(turn.prompt_ids)
        seen = list(turn.prompt_ids) + list(turn.token_ids)
        if trained_replies is not None and index + 1 >= shared_replies + trained_replies:
            break
    if max_completion_tokens is not None:
        completion, mask = completion[:max_completion_tokens], mask[:max_completion_tokens]
        logprobs = logprobs[:max_completion_tokens]
    return TokenisedConversation(prompt_ids, completion, mask, cut_at, reason, logprobs if with_logprobs else None)


def sampled_logprobs(trajectories: list[TokenisedConversation]) -> list[list[float | None]] | None:
    """The ``logprobs`` a TRL rollout function returns: None when no trajectory has them (the learner's backend
    reports none), else one list per trajectory, where a trajectory without them gets None per token (TRL then
    leaves those tokens out of its importance-sampling correction)."""
    if all(t.logprobs is None for t in trajectories):
        return None
    return [list(t.logprobs) if t.logprobs is not None else [None] * len(t.completion_ids) for t in trajectories]


def _render(tokenizer: Any, messages: Messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def tokenise_conversation(tokenizer: Any, messages: Messages, max_completion_tokens: int | None = None,
                          shared_replies: int = 0, trained_replies: int | None = None) -> TokenisedConversation:
    """``messages`` must start with a user turn and end with an assistant turn (the learner's view); the
    replies after the first ``shared_replies`` are trained, at most ``trained_replies`` of them (None: all)."""
    if not messages or messages[0]["role"] == "assistant":
        raise ValueError("the conversation must start with the game master's message")
    while messages and messages[-1]["role"] != "assistant":
        messages = messages[:-1]
    first_assistant = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    prompt_text = _render(tokenizer, messages[:first_assistant], True)
    prompt_ids = _encode(tokenizer, prompt_text)
    completion: list[int] = []
    mask: list[int] = []
    rendered = prompt_text
    replies = 0
    for index in range(first_assistant, len(messages)):
        is_assistant = messages[index]["role"] == "assistant"
        next_is_assistant = index + 1 < len(messages) and messages[index + 1]["role"] == "assistant"
        text = _render(tokenizer, messages[: index + 1], add_generation_prompt=not is_assistant and next_is_assistant)
        if not text.startswith(rendered):
            raise ValueError("the chat template is not prefix-preserving; multi-turn masking needs one that is")
        segment = _encode(tokenizer, text[len(rendered):])
        completion += segment
        trained = is_assistant and replies >= shared_replies
        mask += [1 if trained else 0] * len(segment)
        replies += is_assistant
        rendered = text
        if trained_replies is not None and replies >= shared_replies + trained_replies:
            break
    if max_completion_tokens is not None:
        completion, mask = completion[:max_completion_tokens], mask[:max_completion_tokens]
    return TokenisedConversation(prompt_ids, completion, mask)
