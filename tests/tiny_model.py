"""A tiny randomly initialised causal LM with a word-level tokenizer, built in memory (no download, no files),
for tests of token handling that need a real transformers model but not a trained one."""

from __future__ import annotations

START, END, UNKNOWN = "<|im_start|>", "<|im_end|>", "<unk>"

#: ChatML, which renders every earlier turn unchanged (prefix-preserving)
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
#: ChatML that drops every assistant turn but a final one (as templates that strip past replies or reasoning do):
#: not prefix-preserving
DROPS_PAST_REPLIES = ("{% for m in messages %}{% if m.role != 'assistant' or loop.last %}<|im_start|>{{ m.role }}\n"
                      "{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"
                      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

WORDS = ("user assistant system GUESS: CLUE: a cold season it follows autumn winter snow river car bread ship lamp "
         "red green blue one two three four five yes no maybe the of and to").split()


def tiny_model(chat_template: str = CHATML, seed: int = 0):
    """(model, tokenizer): a 2-layer Llama over a vocabulary of ``WORDS``; it never samples the turn-start or
    unknown token (``suppress_tokens``), so every reply decodes to words that encode back to the same ids."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([START, END, UNKNOWN, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNKNOWN))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=END, pad_token=END, unk_token=UNKNOWN,
                                        additional_special_tokens=[START])
    tokenizer.chat_template = chat_template
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=vocab[END], pad_token_id=vocab[END], bos_token_id=None)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = vocab[END]
    model.generation_config.suppress_tokens = [vocab[START], vocab[UNKNOWN]]
    return model, tokenizer
