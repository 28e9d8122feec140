"""The judge training loop: PandaLM prompt in, PandaLM target out, loss on the target only.

A plain loop (the HF Trainer was about 2x slower at tiny sizes): AdamW, linear warmup then
cosine decay, right-padded batches, shuffled each epoch from a seed. Progress and held-out
verdict accuracy are reported through a callback; the model is saved as an HF folder with
its tokenizer (loadable by the `hf` backend, servable by vLLM) at checkpoints and at the end.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from judge.prompt import build_prompt
from judge.training.data import VERDICT_TEXT, Demo, Pair, prompt_text, target_text

IGNORE = -100


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings. Defaults are PandaLM's recipe (AdamW 2e-5, cosine, warmup 0.03,
    2 epochs); the tiny CPU recipe overrides them (see judge.training.recipes)."""

    lr: float = 2e-5
    epochs: float = 2.0
    batch_size: int = 32
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 1024
    seed: int = 0
    max_steps: int | None = None  # stop early (smoke tests, quick comparisons)
    eval_every: int = 500
    save_every: int = 0  # 0 = only at the end
    threads: int = 1


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def encode(pair: Pair, tokenizer: Any, max_length: int) -> Encoded:
    """Prompt and target tokenized apart (as at inference, where the prompt ends the input),
    then EOS; labels mask the prompt. Too-long examples keep the target, cut the prompt's head."""
    prompt = tokenizer(prompt_text(pair), add_special_tokens=False)["input_ids"]
    target = tokenizer(target_text(pair), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    prompt = prompt[-max(1, max_length - len(target)):]
    return Encoded(prompt + target, [IGNORE] * len(prompt) + target)


def token_ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Ids of many texts without special tokens; the Rust batch call when there is one
    (the transformers wrapper converts each encoding in Python, ~10x slower)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def encode_all(pairs: Sequence[Pair], tokenizer: Any, max_length: int) -> list[Encoded]:
    """`encode` for many pairs, tokenizing in batches (the fast tokenizer's batch call)."""
    prompts = token_ids(tokenizer, [prompt_text(p) for p in pairs])
    targets = token_ids(tokenizer, [target_text(p) for p in pairs])
    out, eos = [], tokenizer.eos_token_id  # attribute lookups on HF tokenizers are slow
    for prompt, target in zip(prompts, targets, strict=True):
        target = [*target, eos]
        prompt = prompt[-max(1, max_length - len(target)):]
        out.append(Encoded(prompt + target, [IGNORE] * len(prompt) + target))
    return out


def encode_demos(demos: Sequence[Demo], tokenizer: Any) -> list[Encoded]:
    """Each demo as the judge's prompt up to Response 2's end (the answer at both responses),
    loss on the two answers only. Pieces are tokenized apart: the tokenizer has no merges, so
    the ids equal those of the whole text."""
    out = []
    for demo in demos:
        text = build_prompt(demo.instruction, demo.input, "\x00", "\x00")
        head, mid, _ = text.split("\x00")
        head_ids, mid_ids, ans = token_ids(tokenizer, [head, mid, demo.answer])
        out.append(Encoded(head_ids + ans + mid_ids + ans,
                           [IGNORE] * len(head_ids) + ans + [IGNORE] * len(mid_ids) + ans))
    return out


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padded positions are masked out of attention and loss."""
    width = max(len(e.input_ids) for e in batch)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask)}


def lr_lambda(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine decay to 0 at `total` (transformers' cosine schedule)."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def verdict_token_ids(tokenizer: Any) -> dict[int, int]:
    """Label -> first token id of its verdict text ("1", "2", "Tie")."""
    return {label: tokenizer(text, add_special_tokens=False)["input_ids"][0]
            for label, text in VERDICT_TEXT.items()}


@torch.inference_mode()
def first_token_verdicts(model: Any, tokenizer: Any, pairs: Sequence[Pair], batch_size: int = 256) -> list[int]:
    """Greedy first generated token per pair, mapped to 1/2/0, or -1 when it is no verdict.

    Equals the first step of greedy decoding, so it is a cheap, faithful progress check;
    the final figures come from `judge eval` through a real backend."""
    to_label = {tok: label for label, tok in verdict_token_ids(tokenizer).items()}
    prompts = token_ids(tokenizer, [prompt_text(p) for p in pairs])
    out: list[int] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1, :]
        out += [to_label.get(int(t), -1) for t in logits.argmax(-1)]
    return out


def save_judge(model: Any, tokenizer: Any, out_dir: Path, card: dict[str, Any]) -> None:
    """HF folder (safetensors + config + tokenizer) plus `judge_card.json` with the recipe
    and measured figures, written to a temp folder then renamed into place."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "judge_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        out_dir.rename(old)
        tmp.rename(out_dir)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(out_dir)


Progress = Callable[[dict[str, Any]], None]


def _quick_eval(model: Any, tokenizer: Any, held_out: Sequence[Pair]) -> dict[str, float]:
    model.eval()
    preds = first_token_verdicts(model, tokenizer, held_out)
    model.train()
    n = max(1, len(held_out))
    return {"heldout_accuracy": sum(p == q.label for p, q in zip(preds, held_out, strict=True)) / n,
            "heldout_invalid": sum(p == -1 for p in preds) / n}


def train(model: Any, tokenizer: Any, pairs: Sequence[Pair], settings: TrainSettings,
          out_dir: Path, held_out: Sequence[Pair] = (), progress: Progress | None = None,
          card: dict[str, Any] | None = None, demos: Sequence[Demo] = ()) -> dict[str, Any]:
    """Train `model` on `pairs` (already augmented) mixed with `demos`; save to `out_dir`;
    return the log summary."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    data = encode_all(pairs, tokenizer, settings.max_length) + encode_demos(demos, tokenizer)
    steps_per_epoch = math.ceil(len(data) / settings.batch_size)
    total = math.ceil(steps_per_epoch * settings.epochs)
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    warmup = int(settings.warmup_ratio * total)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, warmup, total))
    rng, step, t0 = random.Random(settings.seed), 0, time.monotonic()
    order: list[int] = []
    history: list[dict[str, Any]] = []
    card = {**(card or {}), "settings": asdict(settings), "train_examples": len(data)}
    model.train()
    while step < total:
        if not order:
            order = list(range(len(data)))
            rng.shuffle(order)
        batch = collate([data[i] for i in order[:settings.batch_size]], tokenizer.pad_token_id)
        order = order[settings.batch_size:]
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        row: dict[str, Any] = {"step": step, "total": total, "loss": round(float(loss.detach()), 4),
                               "lr": sched.get_last_lr()[0], "elapsed_s": round(time.monotonic() - t0, 1)}
        if held_out and (step % settings.eval_every == 0 or step == total):
            row.update(_quick_eval(model, tokenizer, held_out))
            history.append(row)
        if progress is not None and (step % 50 == 0 or "heldout_accuracy" in row):
            progress(row)
        if settings.save_every and step % settings.save_every == 0 and step < total:
            save_judge(model, tokenizer, out_dir, {**card, "steps": step, "history": history})
    summary = {**card, "steps": step, "history": history, "train_seconds": round(time.monotonic() - t0, 1)}
    model.eval()
    save_judge(model, tokenizer, out_dir, summary)
    return summary
