"""Text in and out of the model: encode examples for training, bucket them into batches, and
generate greedy answers in batches (left padding, stop at EOS).

Length bucketing: examples are shuffled, cut into pools of 50 batches, each pool is sorted by
length and split into batches, and the batch order is shuffled again. Batches then hold
similar lengths, so little compute is spent on padding, while the order stays random.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hpo.data import format_prompt
from hpo.types import Example

IGNORE = -100
POOL_BATCHES = 50


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    n_prompt: int  # the loss covers ids[n_prompt:], the response and EOS


def encode(tokenizer: Any, example: Example, max_length: int) -> Encoded:
    """Prompt + response + EOS, truncated to `max_length` (prompt cut from the left first)."""
    prompt = tokenizer(format_prompt(example), add_special_tokens=True)["input_ids"]
    response = tokenizer(example.output or "", add_special_tokens=False)["input_ids"]
    response = response + [tokenizer.eos_token_id]
    if len(prompt) + len(response) > max_length:
        response = response[: max(max_length - len(prompt), max_length // 2)]
        prompt = prompt[-(max_length - len(response)):]
    return Encoded(prompt + response, len(prompt))


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, bucket: bool = True) -> list[list[int]]:
    """Index batches for one epoch, deterministic in `seed`; with `bucket`, length-bucketed."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if bucket:
        pool = batch_size * POOL_BATCHES
        order = [i for s in range(0, len(order), pool)
                 for i in sorted(order[s:s + pool], key=lambda j: lengths[j])]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if bucket:
        rng.shuffle(batches)
    return batches


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (prompt and padding ignored)."""
    width = max(len(e.ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids)
        labels[row, e.n_prompt:n] = torch.tensor(e.ids[e.n_prompt:])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, examples: Sequence[Example], batch_size: int,
             max_new_tokens: int, max_length: int,
             on_batch: Callable[[int, int], None] | None = None) -> list[str]:
    """Greedy answers, in the order of `examples`; batches are sorted by prompt length.
    `on_batch(done, total)` is told after each batch (progress for a long validation set)."""
    was_training = model.training
    model.eval()
    prompts = [tokenizer(format_prompt(e), add_special_tokens=True)["input_ids"][-max_length:]
               for e in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    for s in range(0, len(order), batch_size):
        chunk = order[s:s + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(chunk):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        for row, i in enumerate(chunk):
            outputs[i] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
        if on_batch is not None:
            on_batch(s + len(chunk), len(order))
    model.train(was_training)
    return outputs
