"""`hpo judge train`: fine-tune a causal LM as a PandaLM-protocol judge, then score it.

Pairs come from `--data` (PandaLM format: .json, .jsonl or hf:<dataset>[:split]) or, when the
caller wires one in (hpo does), from `--synthetic`. After training the judge is reloaded from
its folder through the `hf` backend and scored on the held-out split, both orders; the figures
go to stdout and into the folder's judge_card.json, and the split to heldout.jsonl so
`hpo judge eval --pairs OUT/heldout.jsonl --backend hf --model OUT` re-measures them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

from judge.training.data import (
    Pair,
    PairSource,
    drop_references,
    load_pairs,
    save_pairs,
    swap_augment,
)

# The recipes' names, known without importing torch (judge.training.recipes builds models); a
# unit test keeps them equal to `judge.training.recipes.RECIPES`.
RECIPE_NAMES = ("pandalm", "tiny")

class SyntheticSource(Protocol):
    """The data behind `--synthetic`, supplied by the caller (hpo: its task suite)."""

    def __call__(self, n_train: int, n_heldout: int, seed: int, tasks: Sequence[str] | None = None,
                 n_demos: int = 0, near_share: float = 0.0) -> PairSource: ...


def add_train_parser(commands: Any, synthetic: SyntheticSource | None) -> None:
    """Add `train` to the `judge` command group."""
    tr = commands.add_parser("train", help="train a PandaLM-protocol judge (then score it held out)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="PandaLM-format pairs: .json, .jsonl or hf:<dataset>[:split]")
    src.add_argument("--synthetic", action="store_true", help="pairs from the synthetic task suite")
    tr.add_argument("--out", type=Path, required=True, help="output folder (HF model + tokenizer)")
    tr.add_argument("--recipe", choices=RECIPE_NAMES, help="default: tiny with --synthetic, else pandalm")
    tr.add_argument("--model", help="base model to fine-tune (pandalm recipe): folder or hub id")
    tr.add_argument("--heldout", help="held-out pairs (with --data); default: a split of --data")
    tr.add_argument("--heldout-fraction", type=float, default=0.1)
    tr.add_argument("--pairs", type=int, default=60000, help="--synthetic: training pairs (before swap)")
    tr.add_argument("--heldout-pairs", type=int, default=600, help="--synthetic: held-out pairs")
    tr.add_argument("--synthetic-tasks", help="--synthetic: comma-separated task families, each"
                    " optionally name=weight (training draws it weight times per cycle; the"
                    " held-out pairs stay an even mix). Default: the suite's default mix")
    tr.add_argument("--no-swap", action="store_true", help="turn off swap augmentation")
    tr.add_argument("--solve-fraction", type=float, default=0.0,
                    help="--synthetic: this fraction of the training examples are demos (the task's"
                         " right answer written as both responses, loss on the answers), so the"
                         " judge learns to solve what it judges")
    tr.add_argument("--near-miss-share", type=float, default=0.0,
                    help="--synthetic: this fraction of the training pairs' wrong answers are"
                         " same-length near misses (a character changed or swapped, a number off"
                         " by 1 or 10); the held-out pairs keep the usual mix. With --recipe"
                         " pandalm --model DIR it continues a trained judge on them")
    tr.add_argument("--reference-drop", type=float, default=0.0, help="blank this fraction of references")
    tr.add_argument("--no-reference", action="store_true", help="train on the verdict (and reason) only")
    for flag, kind in (("--lr", float), ("--epochs", float), ("--batch-size", int),
                       ("--max-steps", int), ("--seed", int), ("--max-length", int)):
        tr.add_argument(flag, type=kind, help="override the recipe")
    for flag in ("--layers", "--hidden-size", "--heads"):
        tr.add_argument(flag, type=int, help="tiny recipe: override the model's shape")
    tr.add_argument("--log", type=Path, help="also append progress rows (JSON lines) here")
    tr.set_defaults(func=lambda args: run_train(args, synthetic))


def _split(pairs: list[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Held-out split by instruction+input, so no held-out prompt was trained on."""
    if not 0 < fraction < 1:
        raise ValueError(f"--heldout-fraction must be in (0, 1), got {fraction}")
    keys = sorted({(p.instruction, p.input) for p in pairs})
    random.Random(f"judge-heldout-{seed}").shuffle(keys)
    held = set(keys[: max(1, int(len(keys) * fraction))])
    train_part = [p for p in pairs if (p.instruction, p.input) not in held]
    if not train_part:
        raise ValueError("--data has too few distinct instructions to hold some out")
    return train_part, [p for p in pairs if (p.instruction, p.input) in held]


def n_demos(n_examples: int, fraction: float) -> int:
    """Demos that make up `fraction` of a training set that has `n_examples` pair examples."""
    if not 0 <= fraction < 1:
        raise ValueError(f"--solve-fraction must be in [0, 1), got {fraction}")
    return round(n_examples * fraction / (1 - fraction))


def _pairs(args: argparse.Namespace, synthetic: SyntheticSource | None, seed: int) -> PairSource:
    if args.synthetic:
        if synthetic is None:
            raise ValueError("--synthetic needs a suite: run it as `hpo judge train --synthetic`")
        tasks = [t.strip() for t in args.synthetic_tasks.split(",")] if args.synthetic_tasks else None
        examples = args.pairs * (1 if args.no_swap else 2)
        return synthetic(args.pairs, args.heldout_pairs, seed, tasks, n_demos(examples, args.solve_fraction),
                         args.near_miss_share)
    if args.near_miss_share:
        raise ValueError("--near-miss-share needs --synthetic (wrong answers come from the task suite)")
    if args.solve_fraction:
        raise ValueError("--solve-fraction needs --synthetic (demos come from the task suite)")
    pairs = load_pairs(args.data)
    if args.heldout:
        return PairSource(pairs, load_pairs(args.heldout), [], {"data": args.data, "heldout": args.heldout})
    train_part, held = _split(pairs, args.heldout_fraction, seed)
    return PairSource(train_part, held, [], {"data": args.data, "heldout_fraction": args.heldout_fraction})


def _settings(args: argparse.Namespace, base: Any) -> Any:
    names = {"lr": "lr", "epochs": "epochs", "batch_size": "batch_size", "max_steps": "max_steps",
             "seed": "seed", "max_length": "max_length"}
    return replace(base, **{field: getattr(args, a) for a, field in names.items() if getattr(args, a) is not None})


def _shaped(recipe: Any, args: argparse.Namespace) -> Any:
    """The recipe with `--layers`, `--hidden-size` and `--heads` applied to its model shape."""
    names = {"layers": "num_layers", "hidden_size": "hidden_size", "heads": "num_heads"}
    shape = {field: getattr(args, a) for a, field in names.items() if getattr(args, a) is not None}
    if not shape:
        return recipe
    if recipe.shape is None:
        raise ValueError(f"--layers/--hidden-size/--heads shape a from-scratch judge; recipe "
                         f"'{recipe.name}' fine-tunes --model")
    return replace(recipe, shape=replace(recipe.shape, **shape))


def _progress(log: Path | None) -> Callable[[dict[str, Any]], None]:
    def report(row: dict[str, Any]) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if log is not None:
            with log.open("a") as f:
                f.write(line + "\n")
    return report


def _lineage(model: str | None) -> list[str]:
    """The commands that built a local base judge, oldest first, read from its card.

    A judge trained in phases (a from-scratch build, then continuations with `--model`) keeps
    the whole recipe in its last card, so one card says how to rebuild it."""
    card = Path(model) / "judge_card.json" if model else None
    if card is None or not card.is_file():
        return []
    try:
        base = json.loads(card.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{card}: not a judge card ({exc})") from None
    if not isinstance(base, dict):
        raise ValueError(f"{card}: not a judge card (a JSON object)")
    earlier, command = base.get("built_on", []), base.get("command")
    if not isinstance(earlier, list) or not all(isinstance(c, str) for c in earlier):
        raise ValueError(f"{card}: 'built_on' must be a list of commands")
    return [*earlier, *([command] if isinstance(command, str) else [])]


def run_train(args: argparse.Namespace, synthetic: SyntheticSource | None) -> int:
    """Build pairs, train, save, then score the saved judge on the held-out split."""
    from judge.training.recipes import get_recipe, load_start
    from judge.training.trainer import train

    recipe = _shaped(get_recipe(args.recipe or ("tiny" if args.synthetic else "pandalm")), args)
    settings = _settings(args, recipe.settings)
    if not 0 <= args.reference_drop <= 1:
        raise ValueError(f"--reference-drop must be in [0, 1], got {args.reference_drop}")
    built_on = _lineage(args.model)  # read first: a bad base card fails before any work
    data = _pairs(args, synthetic, settings.seed)
    train_pairs, held_out, pieces, source = data.train, data.held_out, data.pieces, data.card
    if args.no_reference:
        train_pairs = [replace(p, reference="") for p in train_pairs]
    train_pairs = drop_references(train_pairs, args.reference_drop, settings.seed)
    examples = train_pairs if args.no_swap else swap_augment(train_pairs)
    model, tokenizer = load_start(recipe, args.model, pieces, settings.seed)
    card = {"recipe": recipe.name, "base_model": args.model or "from scratch", "source": source,
            "swap_augmentation": not args.no_swap, "reference_drop": args.reference_drop,
            "reference_in_target": not args.no_reference, "train_pairs": len(train_pairs),
            "heldout_pairs": len(held_out), **({"demos": len(data.demos)} if data.demos else {}),
            "parameters": sum(p.numel() for p in model.parameters()),
            "built_on": built_on, "command": "hpo " + " ".join(sys.argv[1:])}
    if args.log is not None:
        args.log.parent.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = train(model, tokenizer, examples, settings, args.out,
                    held_out=swap_augment(held_out)[:2000], progress=_progress(args.log), card=card,
                    demos=data.demos)
    save_pairs(held_out, args.out / "heldout.jsonl")
    result = score_folder(args.out, held_out)
    summary["heldout_eval"] = asdict(result)
    (args.out / "judge_card.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(result.as_table())
    return 0


def score_folder(folder: Path, pairs: Sequence[Pair], batch_size: int = 64) -> Any:
    """Load the saved judge through the `hf` backend and score it on `pairs`, both orders."""
    from judge.backends.hf import HFJudge
    from judge.pairwise import PairwiseJudge
    from judge.training.heldout import evaluate_pairs

    backend = HFJudge(str(folder), batch_size=batch_size)
    try:
        result = evaluate_pairs(pairs, PairwiseJudge(backend))
        result.extra["judge"] = backend.identity
        return result
    finally:
        backend.close()
