"""Measure single-order judge parameters (accuracy, tie rate, position bias) on PandaLM's
human-annotated test set: PandaLM-7B's and GPT-3.5's released verdicts against the majority of
three human annotators. The simulators in hpo.testing.noise take these figures.

Run: python benchmarks/judge_params_pandalm.py [--data ../shared/data/pandalm]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from hpo.testing.noise import JudgeParams, fit_judge_params

VERDICT = {1: 0, 2: 1, 0: 2, "1": 0, "2": 1, "Tie": 2}  # -> 0: "1", 1: "2", 2: "Tie"


def human_labels(testset: list[dict]) -> dict[int, int]:
    """idx -> majority label (0 tie, 1, 2); items without a majority are left out."""
    out = {}
    for row in testset:
        votes = Counter(row[f"annotator{k}"] for k in (1, 2, 3)).most_common(1)[0]
        if votes[1] >= 2:
            out[row["idx"]] = votes[0]
    return out


def measure(labels: dict[int, int], verdicts: dict[int, object]) -> tuple[JudgeParams, dict[str, float]]:
    """Fit on items with a strict human label; also report raw agreement figures."""
    counts = np.zeros((2, 3))
    raw: Counter[str] = Counter()
    for idx, label in labels.items():
        v = VERDICT.get(verdicts.get(idx))  # type: ignore[arg-type]
        raw["invalid" if v is None else "valid"] += 1
        if v is None:
            continue
        raw["agree_3way"] += v == {1: 0, 2: 1, 0: 2}[label]
        if label in (1, 2):
            counts[label - 1, v] += 1
    strict = counts.sum()
    figures = {
        "items": len(labels), "strict human label": strict, "invalid": raw["invalid"],
        "3-way agreement": raw["agree_3way"] / raw["valid"],
        "acc on strict, judge non-tie": (counts[0, 0] + counts[1, 1]) / counts[:, :2].sum(),
        "judge tie rate on strict": counts[:, 2].sum() / strict,
        "says '1' | human 1": counts[0, 0] / counts[0].sum(),
        "says '2' | human 2": counts[1, 1] / counts[1].sum(),
    }
    return fit_judge_params(counts), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/pandalm"))
    args = parser.parse_args()
    labels = human_labels(json.loads((args.data / "testset-v1.json").read_text()))
    judges = {
        "PandaLM-7B": ("pandalm-7b-testset-v1.json", "pandalm_result"),
        "GPT-3.5": ("gpt-3.5-turbo-testset-v1.json", "gpt_result"),
    }
    for name, (file, key) in judges.items():
        rows = json.loads((args.data / file).read_text())
        params, figures = measure(labels, {r["idx"]: r[key] for r in rows})
        print(f"{name}: {params}")
        for k, v in figures.items():
            print(f"  {k:32s} {v:.3f}" if isinstance(v, float) else f"  {k:32s} {v}")


if __name__ == "__main__":
    main()
