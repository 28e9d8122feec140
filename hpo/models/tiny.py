"""The embedded CPU default: a tiny LLaMA and a byte-level BPE tokenizer trained on the data.

The Alpaca template's fixed pieces (preambles and headers) are special tokens, so a prompt costs
three or four tokens of template plus its content.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from hpo.config.schema import TinyModelConfig
from hpo.data import PROMPT_PIECES
from hpo.types import Example

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def train_tokenizer(examples: list[Example], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE whose merges come from the instructions only, with single-digit tokens.

    Learning merges from inputs/outputs too would fuse frequent letter pairs ("cd" from sorted
    answers), so reversing or sorting would need the model to split tokens; this way task inputs
    stay about one character per token. Deterministic for the same examples."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=[PAD, BOS, EOS, *PROMPT_PIECES],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = (e.instruction for e in examples)  # merges for the instruction words only
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS)


def build_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerFast, seed: int,
                max_positions: int = 512) -> LlamaForCausalLM:
    """A randomly initialised LlamaForCausalLM; the same seed gives the same weights."""
    intermediate = -(-cfg.hidden_size * 8 // 3 // 8) * 8  # LLaMA's 8/3 ratio, multiple of 8
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=intermediate,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads, max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)
