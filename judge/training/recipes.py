"""Named judge-training recipes: what model to start from and how to optimise it.

- `pandalm`: PandaLM's recipe for a real base model (AdamW 2e-5, cosine, warmup 0.03,
  2 epochs). Starts from `--model` (a local folder or a cached hub id). It runs in one
  process today. The multi-GPU seam is `judge.training.trainer.train(model, tokenizer, pairs,
  settings, out_dir)`: it is the per-worker body that the N-worker trial machinery (Ray Train
  TorchTrainer + DeepSpeed ZeRO-2) is to call with a DeepSpeed-wrapped model; that
  wiring is not done here (see docs/judge.md).
- `tiny`: a 0.86M-parameter LLaMA trained from scratch on one CPU thread (AdamW 1e-3, cosine,
  warmup 0.03), with the byte-level template tokenizer. What the CPU default judge is. (A
  2.8M-parameter variant, hidden 192 and 6 layers, was measured and dropped: docs/judge.md.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judge.training.model import TinyJudgeShape, build_tiny_judge
from judge.training.tokenizer import build_tokenizer
from judge.training.trainer import TrainSettings


@dataclass(frozen=True)
class Recipe:
    name: str
    settings: TrainSettings
    shape: TinyJudgeShape | None = None  # None: start from a pretrained model
    notes: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)


RECIPES = {
    "pandalm": Recipe("pandalm", TrainSettings(), notes="PandaLM: AdamW 2e-5, cosine, warmup 0.03, 2 epochs"),
    "tiny": Recipe("tiny", TrainSettings(lr=1e-3, epochs=1.0, batch_size=32, max_length=128,
                                         eval_every=500, save_every=500),
                   shape=TinyJudgeShape(), notes="from scratch, 1 CPU thread"),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown judge recipe '{name}'; valid: {', '.join(RECIPES)}")
    return RECIPES[name]


def load_start(recipe: Recipe, model: str | None, extra_pieces: Sequence[str], seed: int) -> tuple[Any, Any]:
    """(model, tokenizer) to train: a fresh tiny judge, or a pretrained causal LM."""
    if recipe.shape is not None:
        if model is not None:
            raise ValueError("the tiny recipe trains from scratch; drop --model or use --recipe pandalm")
        tokenizer = build_tokenizer(extra_pieces)
        return build_tiny_judge(recipe.shape, tokenizer, seed), tokenizer
    if model is None:
        raise ValueError(f"recipe '{recipe.name}' fine-tunes a base model: give --model PATH_OR_HUB_ID")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)  # type: ignore[assignment]
        loaded = AutoModelForCausalLM.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load base model '{model}': {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return loaded, tokenizer
