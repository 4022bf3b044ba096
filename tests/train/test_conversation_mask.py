import pytest

from playpen.train.conversation import tokenise_conversation

pytestmark = pytest.mark.model

CONVERSATION = [
    {"role": "user", "content": "You are the guesser. CLUE: a cold season"},
    {"role": "assistant", "content": "GUESS: winter"},
    {"role": "user", "content": "CLUE: it follows autumn"},
    {"role": "assistant", "content": "GUESS: snow"},
]


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_dir)


def test_mask_covers_exactly_the_learners_tokens(tokenizer):
    tokens = tokenise_conversation(tokenizer, CONVERSATION)
    assert len(tokens.completion_ids) == len(tokens.mask)
    full = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert tokenizer.decode(tokens.prompt_ids + tokens.completion_ids) == full
    learner = tokenizer.decode([t for t, m in zip(tokens.completion_ids, tokens.mask) if m])
    others = tokenizer.decode([t for t, m in zip(tokens.completion_ids, tokens.mask) if not m])
    assert learner == "GUESS: winter<|im_end|>\nGUESS: snow<|im_end|>\n"
    assert "CLUE: it follows autumn" in others and "GUESS" not in others
    assert "CLUE: a cold season" in tokenizer.decode(tokens.prompt_ids)
    assert tokenizer.decode(tokens.prompt_ids).endswith("<|im_start|>assistant\n")


def test_trailing_game_master_message_is_dropped_and_truncation(tokenizer):
    tokens = tokenise_conversation(tokenizer, CONVERSATION + [{"role": "user", "content": "game over"}])
    assert "game over" not in tokenizer.decode(tokens.completion_ids)
    short = tokenise_conversation(tokenizer, CONVERSATION, max_completion_tokens=5)
    assert len(short.completion_ids) == 5 and len(short.mask) == 5


def test_conversation_must_start_with_the_game_master(tokenizer):
    with pytest.raises(ValueError):
        tokenise_conversation(tokenizer, CONVERSATION[1:])


def test_shared_replies_are_masked_out(tokenizer):
    """With branching, the replies the group shares are history: only the later ones are trained on."""
    tokens = tokenise_conversation(tokenizer, CONVERSATION, shared_replies=1)
    learner = tokenizer.decode([t for t, m in zip(tokens.completion_ids, tokens.mask) if m])
    assert learner == "GUESS: snow<|im_end|>\n"
    assert tokens.completion_ids == tokenise_conversation(tokenizer, CONVERSATION).completion_ids


def test_trained_replies_stop_the_conversation_after_them(tokenizer):
    tokens = tokenise_conversation(tokenizer, CONVERSATION, trained_replies=1)
    assert tokenizer.decode(tokens.completion_ids) == "GUESS: winter<|im_end|>\n"
    assert tokens.mask == [1] * len(tokens.completion_ids)
    at_fork = tokenise_conversation(tokenizer, CONVERSATION, shared_replies=1, trained_replies=1)
    assert at_fork.completion_ids == tokenise_conversation(tokenizer, CONVERSATION).completion_ids
    assert tokenizer.decode([t for t, m in zip(at_fork.completion_ids, at_fork.mask) if m]) == "GUESS: snow<|im_end|>\n"
