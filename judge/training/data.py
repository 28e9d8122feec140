"""Pairwise training examples in PandaLM's released format, and their training text.

A pair is (instruction, input, response1, response2, label) with label 1 or 2 (the better
response) or 0 (tie), plus optional `reason` and `reference` (PandaLM's generated
explanation and reference answer). The training target is PandaLM's output text: the verdict
on the first line, then `### Reason:` and `### Reference:` when present. Loss is taken on the
target only; the prompt is `judge.prompt.build_prompt`, byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from judge.prompt import as_text, build_prompt, build_training_target
from judge.records import read_records

VERDICT_TEXT = {1: "1", 2: "2", 0: "Tie"}
_MIRROR = {1: 2, 2: 1, 0: 0}
_LABEL_ALIASES = {"1": 1, "2": 2, "0": 0, "tie": 0}


class TrainingDataError(ValueError):
    """Unreadable or malformed training data; the message names the file and the item."""


@dataclass(frozen=True)
class Pair:
    """One labelled single-order comparison."""

    instruction: str
    input: str
    response1: str
    response2: str
    label: int  # 1, 2, or 0 = tie
    reason: str = ""
    reference: str = ""
    meta: str = ""  # free-form provenance (e.g. the corruption kind), not trained on


@dataclass(frozen=True)
class Demo:
    """A worked example in the judge's layout: the task's right answer written as both
    responses, the loss on those answers only. Mixed into training, demos teach the body to
    *solve* the tasks it judges (checking "dcba" against "abcd" is easier for a model that can
    reverse); never read at judging time."""

    instruction: str
    input: str
    answer: str


@dataclass(frozen=True)
class PairSource:
    """What a training run reads: pairs to train on, held-out pairs, tokenizer pieces (added
    as whole tokens), a description for the judge card, and optional demos."""

    train: list[Pair]
    held_out: list[Pair]
    pieces: list[str]
    card: dict[str, Any]
    demos: list[Demo] = field(default_factory=list)


def parse_label(value: Any, where: str) -> int:
    """1/2/0 (or "1"/"2"/"0"/"Tie") -> 1/2/0; anything else is a TrainingDataError."""
    label = _LABEL_ALIASES.get(str(value).strip().lower())
    if label is None:
        raise TrainingDataError(f"{where}: label must be 1, 2 or 0 (tie), got {value!r}")
    return label


def pair_from_record(record: dict[str, Any], where: str) -> Pair:
    """A Pair from one PandaLM-format record (`label`, or `result` as an alias)."""
    missing = [k for k in ("instruction", "response1", "response2") if k not in record]
    if "label" not in record and "result" not in record:
        missing.append("label")
    if missing:
        raise TrainingDataError(f"{where}: missing {', '.join(missing)}")
    return Pair(as_text(record["instruction"]), as_text(record.get("input")),
                as_text(record["response1"]), as_text(record["response2"]),
                parse_label(record.get("label", record.get("result")), where),
                as_text(record.get("reason")), as_text(record.get("reference")),
                as_text(record.get("meta")))


def _hf_records(spec: str) -> list[dict[str, Any]]:
    """`hf:<dataset>[:split]` through `datasets` (from the local cache when offline)."""
    name, _, split = spec[3:].partition(":")
    try:
        import datasets
    except ImportError:
        raise TrainingDataError("hf: training data needs `pip install datasets`") from None
    try:
        return [dict(r) for r in datasets.load_dataset(name, split=split or "train")]
    except Exception as exc:  # datasets raises many types for a missing/offline dataset
        raise TrainingDataError(f"cannot load {spec}: {str(exc).splitlines()[0]}") from None


def load_pairs(source: str | Path) -> list[Pair]:
    """Pairs from a .json list, a .jsonl file or `hf:<dataset>[:split]`."""
    spec = str(source)
    records = _hf_records(spec) if spec.startswith("hf:") else read_records(Path(spec), "training pairs", TrainingDataError)
    if not records:
        raise TrainingDataError(f"training pairs {spec} are empty")
    return [pair_from_record(r, f"{spec} item {i}") for i, r in enumerate(records)]


def save_pairs(pairs: Iterable[Pair], path: Path) -> None:
    """Write pairs as JSONL in the format `load_pairs` reads."""
    optional = ("reason", "reference", "meta")  # written only when present
    lines = (json.dumps({k: v for k, v in p.__dict__.items() if v != "" or k not in optional})
             for p in pairs)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def mirror_reason(reason: str) -> str:
    """A reason as it reads with the responses exchanged: "Response 1" <-> "Response 2"."""
    parts = reason.split("Response 1")
    return "Response 2".join(part.replace("Response 2", "Response 1") for part in parts)


def swapped(pair: Pair) -> Pair:
    """The same comparison with the responses exchanged, the label mirrored (JudgeLM) and the
    reason's mentions of the two responses exchanged, so the reason stays true."""
    return replace(pair, response1=pair.response2, response2=pair.response1, label=_MIRROR[pair.label],
                   reason=mirror_reason(pair.reason))


def swap_augment(pairs: Sequence[Pair]) -> list[Pair]:
    """Every pair in both orders (original first), so position carries no information."""
    return [q for p in pairs for q in (p, swapped(p))]


def drop_references(pairs: Sequence[Pair], rate: float, seed: int) -> list[Pair]:
    """JudgeLM's reference drop: blank the reference of a `rate` fraction of pairs."""
    rng = random.Random(f"judge-reference-drop-{seed}")
    return [replace(p, reference="") if rng.random() < rate else p for p in pairs]


def target_text(pair: Pair) -> str:
    """PandaLM's output text for a pair: verdict line, then reason and reference when present.

    With both present this is exactly `judge.prompt.build_training_target`; a missing section
    is left out rather than written empty."""
    verdict = VERDICT_TEXT[pair.label]
    if pair.reason and pair.reference:
        return build_training_target(verdict, pair.reason, pair.reference)
    if pair.reason:
        return f"{verdict}\n\n### Reason: {pair.reason}\n"
    if pair.reference:
        return f"{verdict}\n\n### Reference: {pair.reference}\n"
    return f"{verdict}\n"


def prompt_text(pair: Pair) -> str:
    """The PandaLM prompt the judge reads (never shows the pair's reference)."""
    return build_prompt(pair.instruction, pair.input, pair.response1, pair.response2)
