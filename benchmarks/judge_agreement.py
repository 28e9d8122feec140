"""Agreement between judge modes (logprobs, verdict, faithful), both orders, and accuracy vs truth.

Sources of pairs (both may be given):
  --pairs FILE.jsonl   labelled pairs (instruction, input, response1, response2, label 1/2/0),
                       e.g. the held-out split `hpo judge train` writes (heldout.jsonl);
  --run RUN_DIR        a real run's candidates: every pair of candidates' answers to the same
                       validation item, labelled by exact match with the reference output
                       (exactly one right -> it wins, else tie), from RUN_DIR/answers and
                       RUN_DIR/data/validation.jsonl.
Every pair is judged in both orders by each mode; the table gives, per mode, single-order
accuracy vs the label (the swapped order's label mirrored), invalid rate, both-orders
accuracy under the strict policy (and soft for logprobs), swap consistency, and the share of
single-order verdicts on which each two modes agree.

Usage:
  python benchmarks/judge_agreement.py --model DIR --pairs DIR/heldout.jsonl [--backend hf]
  python benchmarks/judge_agreement.py --model NAME --backend vllm --url URL --run RUN_DIR
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judge.pairwise import PairwiseJudge, both_orders  # noqa: E402
from judge.policy import combine_judgments  # noqa: E402
from judge.types import ComparisonItem, Judgment, Verdict  # noqa: E402

Labelled = tuple[ComparisonItem, int]  # label: 1 answer_a better, 2 answer_b better, 0 tie
_MIRROR = {1: 2, 2: 1, 0: 0}
_AS_VERDICT = {1: Verdict.RESPONSE1, 2: Verdict.RESPONSE2, 0: Verdict.TIE}
_OUTCOME = {1: 1, 2: -1, 0: 0}


def load_pairs(path: Path, limit: int) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]
    label = {"1": 1, "2": 2, "0": 0, "tie": 0}
    return [(ComparisonItem(r["instruction"], r.get("input") or "", r["response1"], r["response2"]),
             label[str(r.get("label", r.get("result"))).strip().lower()]) for r in rows]


def run_pairs(run: Path, limit: int, seed: int = 0) -> list[Labelled]:
    """Candidate pairs of a real run, labelled by exact match with the reference output."""
    refs = {e["id"]: e.get("output") for e in map(json.loads, (run / "data" / "validation.jsonl").read_text().splitlines())}
    answers = {p.stem: json.loads(p.read_text())["answers"] for p in sorted((run / "answers").glob("*.json"))}
    out: list[Labelled] = []
    for a, b in itertools.combinations(sorted(answers), 2):
        for ans_a, ans_b in zip(answers[a], answers[b], strict=True):
            if ans_a["output"] == ans_b["output"]:
                continue  # identical answers: nothing to judge
            ref = refs.get(ans_a["id"])
            right_a, right_b = ans_a["output"].strip() == ref, ans_b["output"].strip() == ref
            label = 1 if right_a and not right_b else 2 if right_b and not right_a else 0
            out.append((ComparisonItem(ans_a["instruction"], ans_a["input"], ans_a["output"], ans_b["output"]), label))
    random.Random(seed).shuffle(out)
    return out[:limit]


def build_backend(args: argparse.Namespace, mode: str) -> Any:
    if args.backend == "hf":
        from judge.backends.hf import HFJudge

        return HFJudge(args.model, mode=mode, batch_size=args.batch_size)
    from judge.backends.vllm import VLLMJudge

    judge = VLLMJudge(args.model, url=args.url, mode=mode, concurrency=args.concurrency, timeout_s=600)
    judge.check_reachable()
    return judge


def judge_mode(args: argparse.Namespace, mode: str, pairs: list[Labelled]) -> tuple[list[tuple[Judgment, Judgment]], float]:
    backend = build_backend(args, mode)
    judge = PairwiseJudge(backend, invalid_retries=0)
    start = time.perf_counter()
    requests = [req for item, _ in pairs for req in both_orders(item)]
    found = judge.judge_requests(requests)
    elapsed = time.perf_counter() - start
    backend.close()
    return [(found[2 * i], found[2 * i + 1]) for i in range(len(pairs))], elapsed


def mode_row(name: str, judged: list[tuple[Judgment, Judgment]], pairs: list[Labelled], policy: str) -> list[str]:
    n = len(pairs)
    single = sum((ab.verdict is _AS_VERDICT[lab]) + (ba.verdict is _AS_VERDICT[_MIRROR[lab]])
                 for (ab, ba), (_, lab) in zip(judged, pairs, strict=True)) / (2 * n)
    invalid = sum((ab.verdict is Verdict.INVALID) + (ba.verdict is Verdict.INVALID) for ab, ba in judged) / (2 * n)
    both = sum(combine_judgments(ab, ba, policy) == _OUTCOME[lab] for (ab, ba), (_, lab) in zip(judged, pairs, strict=True)) / n
    consistent = sum(_AS_VERDICT.get({Verdict.RESPONSE1: 2, Verdict.RESPONSE2: 1, Verdict.TIE: 0}.get(ab.verdict, -1)) is ba.verdict
                     for ab, ba in judged) / n
    return [name, f"{single:.3f}", f"{invalid:.3f}", policy, f"{both:.3f}", f"{consistent:.3f}"]


def report(source: str, pairs: list[Labelled], results: dict[str, tuple[list[tuple[Judgment, Judgment]], float]]) -> None:
    labels = [lab for _, lab in pairs]
    print(f"\n### {source}: {len(pairs)} pairs x 2 orders (labels: {labels.count(1)} A, {labels.count(2)} B, {labels.count(0)} tie)\n")
    print("| mode | single-order accuracy | invalid | policy | both-orders accuracy | swap consistency | judgments/s |")
    print("|---|---|---|---|---|---|---|")
    for mode, (judged, secs) in results.items():
        rate = f"{2 * len(pairs) / secs:.1f}"
        print("| " + " | ".join(mode_row(mode, judged, pairs, "strict") + [rate]) + " |")
        if mode == "logprobs":
            print("| " + " | ".join(mode_row(mode, judged, pairs, "soft") + [rate]) + " |")
    print("\n| agreement (single-order verdicts equal) | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for m1 in results:
        cells = []
        for m2 in results:
            a, b = results[m1][0], results[m2][0]
            same = sum((x[0].verdict is y[0].verdict) + (x[1].verdict is y[1].verdict) for x, y in zip(a, b, strict=True))
            cells.append(f"{same / (2 * len(pairs)):.3f}")
        print(f"| {m1} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--pairs", type=Path)
    ap.add_argument("--run", type=Path)
    ap.add_argument("--modes", default="logprobs,verdict,faithful")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sources = ([("held-out pairs", load_pairs(args.pairs, args.limit))] if args.pairs else []) + (
        [(f"run {args.run.name} candidate pairs", run_pairs(args.run, args.limit))] if args.run else [])
    if not sources:
        ap.error("give --pairs and/or --run")
    print(f"judge {args.model} via {args.backend}")
    for source, pairs in sources:
        results = {mode: judge_mode(args, mode, pairs) for mode in args.modes.split(",")}
        report(source, pairs, results)


if __name__ == "__main__":
    main()
