"""Validation loss of a checkpoint: what classical HPO would select on.

Mean token cross-entropy of the reference responses (+ EOS) given their prompts, over the
validation examples that have a reference, with the same encoding as training (loss on the
response only). Cheap next to generation: one forward pass per batch, no decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hpo.trial.generate import IGNORE, collate, encode
from hpo.types import Example


def token_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Index batches, shortest rows first, each at most `token_budget` padded tokens (rows x the
    longest row), so the logits (tokens x vocab) stay bounded whatever the vocabulary; a row
    longer than the budget goes alone."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batches and (len(batches[-1]) + 1) * lengths[i] <= token_budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@torch.inference_mode()
def validation_loss(model: Any, tokenizer: Any, examples: Sequence[Example], max_length: int,
                    token_budget: int | None = None) -> float | None:
    """Token-weighted mean loss on the responses of `examples`; None when none has an output.
    `token_budget`: padded tokens per forward pass (default: 8 rows of `max_length`)."""
    encoded = [encode(tokenizer, e, max_length) for e in examples if e.output is not None]
    if not encoded:
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for rows in token_batches([len(e.ids) for e in encoded], token_budget or 8 * max_length):
        items = [encoded[i] for i in rows]
        batch = {k: v.to(device) for k, v in collate(items, tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                 labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
        total += float(loss)
        tokens += int((labels != IGNORE).sum())
    model.train(was_training)
    return total / max(tokens, 1)
