"""GRPO's trajectories from the tokens the learner sampled: the extension property checked turn by turn, on a
prefix-preserving chat template and on one that drops past replies (a tiny random model built in memory), and
whole rollouts with a learner served by the test server (no model download, no `model` marker)."""

from __future__ import annotations

import json
import logging
import os
from types import SimpleNamespace

import pytest

from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.testing.server import END_OF_TURN, UNIFORM_LOGPROB, decode_tokens
from playpen.train.conversation import TokenisedConversation, Turn, sampled_logprobs, tokens_from_turns
from tests.tiny_model import CHATML, DROPS_PAST_REPLIES, tiny_model

FIRST = [{"role": "user", "content": "CLUE: a cold season"}]
NEXT_CLUE = {"role": "user", "content": "CLUE: it follows autumn"}


def two_turns(template):
    """The learner's two turns of a conversation on the tiny model: (turns, the two results)."""
    pytest.importorskip("torch")
    from playpen.models.huggingface import HuggingFaceModel

    model, tokenizer = tiny_model(chat_template=template)
    learner = HuggingFaceModel(model=model, tokenizer=tokenizer, settings=GenerationSettings(0.0, 6),
                               keep_prompt_tokens=True)
    [first] = learner.generate([GenerationRequest(FIRST)])
    [second] = learner.generate([GenerationRequest(FIRST + [{"role": "assistant", "content": first.text}, NEXT_CLUE])])
    return [Turn(r.prompt_token_ids, r.token_ids) for r in (first, second)], (first, second), tokenizer


def test_a_prefix_preserving_template_gives_one_sequence_with_the_sampled_tokens_in_the_loss():
    turns, (first, second), tokenizer = two_turns(CHATML)
    tokens = tokens_from_turns(turns)
    assert tokens.cut_at_turn is None and tokens.cut_reason is None
    assert tokens.prompt_ids == first.prompt_token_ids
    # the whole sequence is what the model read at its last turn, then what it sampled there
    assert tokens.prompt_ids + tokens.completion_ids == second.prompt_token_ids + second.token_ids
    # mask 1 exactly on the sampled tokens: the first reply, then the second one
    between = len(second.prompt_token_ids) - len(first.prompt_token_ids) - len(first.token_ids)
    assert tokens.mask == [1] * len(first.token_ids) + [0] * between + [1] * len(second.token_ids)
    trained = [t for t, m in zip(tokens.completion_ids, tokens.mask) if m]
    assert trained == first.token_ids + second.token_ids
    untrained = tokenizer.decode([t for t, m in zip(tokens.completion_ids, tokens.mask) if not m])
    assert "CLUE: it follows autumn" in untrained and first.text not in untrained
    # branching: a shared first reply is history, not trained on
    assert tokens_from_turns(turns, shared_replies=1).mask == [0] * (len(first.token_ids) + between) + [1] * len(
        second.token_ids)
    assert tokens_from_turns(turns, max_completion_tokens=3).mask == [1, 1, 1]


def test_trained_replies_end_the_trajectory_after_the_reply_compared_within_its_group():
    """``trained_replies=1``: only the first reply (after the shared history) is trained, and nothing after it is
    computed, since a causal model's loss on it cannot depend on later tokens."""
    turns, (first, second), _ = two_turns(CHATML)
    only_first = tokens_from_turns(turns, trained_replies=1)
    assert only_first.completion_ids == first.token_ids and only_first.mask == [1] * len(first.token_ids)
    # after a shared first reply (branching), the fork's reply is the one trained, with the history before it
    at_fork = tokens_from_turns(turns, shared_replies=1, trained_replies=1)
    assert at_fork.completion_ids == tokens_from_turns(turns).completion_ids
    assert [t for t, m in zip(at_fork.completion_ids, at_fork.mask) if m] == second.token_ids
    assert tokens_from_turns(turns, trained_replies=2).mask == tokens_from_turns(turns).mask


def test_a_template_that_drops_past_replies_ends_the_trajectory_before_that_turn():
    turns, (first, second), tokenizer = two_turns(DROPS_PAST_REPLIES)
    assert first.text not in tokenizer.decode(second.prompt_token_ids)  # the template really dropped it
    tokens = tokens_from_turns(turns)
    assert (tokens.cut_at_turn, tokens.cut_reason) == (1, "rewritten")
    # only the first turn, exactly as sampled: the second reply was sampled in a context this sequence lacks
    assert tokens.completion_ids == first.token_ids and tokens.mask == [1] * len(first.token_ids)


def test_a_reply_stored_differently_from_its_tokens_ends_the_trajectory():
    sampled = Turn([1, 2], [3, 4, 9])
    assert tokens_from_turns([sampled, Turn([1, 2, 3, 4, 9, 5], [6])]).cut_at_turn is None
    cut = tokens_from_turns([sampled, Turn([1, 2, 3, 9, 5], [6])])  # token 4 did not come back
    assert (cut.cut_at_turn, cut.cut_reason, cut.completion_ids) == (1, "reply", [3, 4, 9])
    with pytest.raises(ValueError):
        tokens_from_turns([])


def test_the_sampled_logprobs_follow_the_completion():
    turns = [Turn([1, 2], [3, 4], [-0.5, -1.5]), Turn([1, 2, 3, 4, 7, 8], [9], [-2.0])]
    tokens = tokens_from_turns(turns)
    assert tokens.completion_ids == [3, 4, 7, 8, 9] and tokens.mask == [1, 1, 0, 0, 1]
    assert tokens.logprobs == [-0.5, -1.5, 0.0, 0.0, -2.0]  # what the learner read gets 0.0 (masked out)
    assert tokens_from_turns(turns, max_completion_tokens=3).logprobs == [-0.5, -1.5, 0.0]
    # a turn without them (or with a wrong count): the trajectory has none
    assert tokens_from_turns([turns[0], Turn(turns[1].prompt_ids, [9])]).logprobs is None
    assert tokens_from_turns([Turn([1], [3, 4], [-1.0])]).logprobs is None
    # TRL's rollout field: None without any, else per trajectory, None per token where a trajectory lacks them
    plain = TokenisedConversation([1], [5, 6], [1, 1])
    assert sampled_logprobs([plain]) is None
    assert sampled_logprobs([tokens, plain]) == [[-0.5, -1.5, 0.0, 0.0, -2.0], [None, None]]


def test_the_vllm_learner_reads_the_sampled_logprobs_and_sets_the_reply_budget():
    from playpen.models.vllm_learner import reply_budget, sampled

    assert sampled([[-0.25], [None]], [5, 6]) == [-0.25, pytest.approx(float("nan"), nan_ok=True)]
    assert sampled([[-0.25, -3.0], [-1.0, -2.0]], [5, 6]) is None  # top-N lists: which one was sampled?
    assert sampled([[-0.25]], [5, 6]) is None and sampled(None, [5]) is None
    engine = SimpleNamespace(max_completion_length=1024)
    with reply_budget(engine, 40):
        assert engine.max_completion_length == 40
    assert engine.max_completion_length == 1024
    with reply_budget(engine, None):
        assert engine.max_completion_length == 1024


def test_after_a_colocated_engine_the_next_trainer_of_the_process_is_a_one_process_trainer(tmp_path, monkeypatch):
    """What TRL's colocate mode and vLLM leave behind (distributed variables, a one-process group) made the next
    stage of an experiment wrap its model in DistributedDataParallel; the scope restores the process."""
    pytest.importorskip("torch")
    import torch.distributed as dist
    from transformers import TrainingArguments

    from playpen.models.vllm_learner import DISTRIBUTED_ENV, colocated_engine_scope

    for name in (*DISTRIBUTED_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # accelerate sets the thread counts
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # set before the run: kept
    with colocated_engine_scope():
        # what the engine's start does (TRL's variables, then vLLM's process group of one)
        monkeypatch.setenv("RANK", "0")
        monkeypatch.setenv("LOCAL_RANK", "0")
        monkeypatch.setenv("WORLD_SIZE", "1")
        monkeypatch.setenv("MASTER_PORT", "29517")
        dist.init_process_group("gloo", rank=0, world_size=1)
        inside = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
        assert inside.parallel_mode.name == "DISTRIBUTED"  # the stage that failed saw this
    assert not dist.is_initialized()
    assert all(name not in os.environ for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"))
    assert os.environ["MASTER_ADDR"] == "127.0.0.1"
    after = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert after.parallel_mode.name == "NOT_PARALLEL" and after.world_size == 1


def served_rollout(tmp_path, answer, **overrides):
    """GRPO's rollout function on two taboo instances, the guesser (the learner) served by the test server
    with token ids, the describer scripted; ``overrides`` change GRPOSettings."""
    from playpen.games import get_game
    from playpen.models.openai_compat import OpenAICompatibleModel
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import select_rows
    from playpen.testing.server import TestServer
    from playpen.train.grpo import ROW_PREFIX, EpisodeRollout, GRPOSettings

    spec = get_game("taboo")
    rows = select_rows(spec, split="train")[:2]
    server = TestServer(answer=lambda messages, body: answer).start()
    learner = OpenAICompatibleModel(server.base_url, server.model_id, return_tokens=True)
    settings = GRPOSettings(games=["taboo"], group_size=2, batch_size=4, reward="success", partner_retries=0,
                            **overrides)
    rollout = EpisodeRollout(settings, [spec], {r.key: r for r in rows}, ScriptedModel(), tokenizer=None,
                             log_path=tmp_path / "rollouts.jsonl")
    rollout.learner_model = lambda trainer: learner
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), accelerator=SimpleNamespace(num_processes=1))
    prompts = [[{"role": "user", "content": ROW_PREFIX + json.dumps(["taboo", r.key])}] for r in rows for _ in (0, 1)]
    try:
        return rollout(prompts, trainer)
    finally:
        learner.close()
        server.stop()


def test_a_served_learner_is_trained_on_exactly_the_tokens_it_sampled(tmp_path):
    out = served_rollout(tmp_path, "GUESS: xylophone")
    reply = list(b"GUESS: xylophone") + [END_OF_TURN]
    for prompt, ids, mask in zip(out["prompt_ids"], out["completion_ids"], out["env_mask"]):
        assert decode_tokens(prompt).startswith("user: ") and decode_tokens(prompt).endswith("assistant: ")
        trained = [t for t, m in zip(ids, mask) if m]
        turns = len(trained) // len(reply)
        assert turns == 3 and trained == reply * turns  # three wrong guesses, every one in the loss
        untrained = decode_tokens([t for t, m in zip(ids, mask) if not m])
        assert "xylophone" not in untrained and untrained.count("assistant: ") == turns - 1
        assert ids[-len(reply):] == reply and mask[-len(reply):] == [1] * len(reply)
    assert out["episode_cut"] == [False] * 4
    # the server's logprobs of the sampled tokens, for TRL's importance-sampling correction (vLLM)
    for mask, logprobs in zip(out["env_mask"], out["logprobs"]):
        assert logprobs == [UNIFORM_LOGPROB if m else 0.0 for m in mask]
    logged = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [entry["cut_at_turn"] for entry in logged] == [None] * 4


def test_with_one_trained_reply_the_rollout_returns_only_the_first_turn(tmp_path):
    """``trained_replies = 1`` reaches the rollout: three wrong guesses were played (the reward needs the whole
    episode), but each trajectory holds only the first, all of it trained."""
    out = served_rollout(tmp_path, "GUESS: xylophone", trained_replies=1)
    reply = list(b"GUESS: xylophone") + [END_OF_TURN]
    assert out["completion_ids"] == [reply] * 4 and out["env_mask"] == [[1] * len(reply)] * 4
    assert out["episode_reward"] == [0.0] * 4


def test_a_reply_changed_after_sampling_is_trained_only_up_to_that_turn_with_one_warning(tmp_path, caplog):
    """The backend strips the reply's trailing space before the game sees it, so the next prompt does not
    continue the sampled tokens: each episode keeps its first turn only, and the run says why, once."""
    with caplog.at_level(logging.WARNING, logger="playpen.train"):
        out = served_rollout(tmp_path, "GUESS: xylophone ")
    for ids, mask in zip(out["completion_ids"], out["env_mask"]):
        assert ids == list(b"GUESS: xylophone ") + [END_OF_TURN] and mask == [1] * len(ids)
    assert out["episode_cut"] == [True] * 4
    warnings = [r.getMessage() for r in caplog.records if r.name == "playpen.train"]
    assert len(warnings) == 1 and "reads back as other tokens" in warnings[0]
    logged = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert {(entry["cut_at_turn"], entry["cut_reason"]) for entry in logged} == {(1, "reply")}


def test_cut_episodes_are_logged_as_a_rate():
    from playpen.train.grpo import episode_reward

    logged = {}
    episode_reward([None] * 4, [1.0, 0.0, 0.0, 1.0], ["success"] * 4, episode_cut=[True, False, False, False],
                   log_metric=logged.__setitem__)
    assert logged["rollout/cut"] == 0.25


def test_the_vllm_learner_asks_vllm_for_at_most_max_new_tokens_per_reply():
    """TRL's engine reads ``max_completion_length`` when it builds vLLM's sampling parameters (``max_tokens``):
    during the learner's call it is the reply budget, not the whole conversation's."""
    from playpen.models.base import GenerationRequest
    from playpen.models.vllm_learner import VLLMLearner

    class Engine:
        max_completion_length = 1024
        seen = []

        def generate(self, prompts, images, num_generations):
            self.seen.append(self.max_completion_length)
            return prompts, [list(b"GUESS: a")] * len(prompts), [[[-0.5]] * 8] * len(prompts), None

    class Bytes:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

        def __call__(self, text, add_special_tokens):
            return {"input_ids": list(text.encode())}

        def decode(self, ids, skip_special_tokens):
            return bytes(ids).decode()

    engine = Engine()
    learner = VLLMLearner(SimpleNamespace(vllm_generation=engine), Bytes(), max_new_tokens=40)
    request = GenerationRequest(messages=[{"role": "user", "content": "guess"}], episode="e", role="Guesser")
    [result] = learner.generate([request])
    assert engine.seen == [40] and engine.max_completion_length == 1024
    assert result.text == "GUESS: a" and result.token_ids == list(b"GUESS: a") and result.logprobs == [-0.5] * 8
    assert bytes(result.prompt_token_ids).decode() == "user: guess\nassistant: "
