"""Blocked-tournament wall time over a real judge server: concurrency 1 vs 16, pipelined vs not.

Plays the same blocked tournament (same candidates, answers, seed, early decision) four
times against a running vLLM (or any OpenAI-compatible) server, each time with a fresh
verdict store, so every configuration pays for every judgment: `judge.concurrency` 1 or 16,
blocks played one after another or at once (`tournament.pipeline`). Prints wall time,
winner, judge calls and stored judgments per configuration; the winners must be equal.

Candidates come from a real run folder: RUN/answers/*.json and RUN/data/validation.jsonl.

Usage: python benchmarks/bench_tournament_pipelining.py --run RUN --model NAME --url URL
           [--mode verdict] [--items 40] [--blocks 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo.tournament.comparator import AnswerMatchJudge  # noqa: E402
from hpo.tournament.strategies.blocked import BlockedOptions, BlockedStrategy  # noqa: E402
from hpo.types import Example  # noqa: E402
from judge.backends.vllm import VLLMJudge  # noqa: E402
from judge.pairwise import PairwiseJudge  # noqa: E402
from judge.store import VerdictStore  # noqa: E402


def load_run(run: Path, items: int) -> tuple[dict[str, list[str]], list[Example]]:
    rows = [json.loads(line) for line in (run / "data" / "validation.jsonl").read_text().splitlines() if line.strip()]
    examples = [Example(r["instruction"], r.get("input") or "", r.get("output"), id=r["id"]) for r in rows[:items]]
    answers = {p.stem: [a["output"] for a in json.loads(p.read_text())["answers"][:items]]
               for p in sorted((run / "answers").glob("*.json"))}
    return answers, examples


def play(args: argparse.Namespace, concurrency: int, pipeline: bool) -> dict[str, object]:
    answers, examples = load_run(args.run, args.items)
    backend = VLLMJudge(args.model, url=args.url, mode=args.mode, concurrency=concurrency, timeout_s=600)
    backend.check_reachable()
    with tempfile.TemporaryDirectory(prefix="bench-pipe-") as tmp:
        store = VerdictStore(Path(tmp) / "verdicts.sqlite")
        pairwise = PairwiseJudge(backend, store)
        judge = AnswerMatchJudge(answers, examples, pairwise)
        start = time.perf_counter()
        result = BlockedStrategy(BlockedOptions(blocks=args.blocks, pipeline=pipeline)).run(sorted(answers), judge, args.seed)
        wall = time.perf_counter() - start
        stored = store.count()
        store.close()
    backend.close()
    return {"concurrency": concurrency, "pipelined": pipeline, "wall_s": wall, "winner": result.winner,
            "calls": result.calls, "stored": stored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--mode", default="verdict")
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    for concurrency, pipeline in ((1, False), (1, True), (16, False), (16, True)):
        rows.append(play(args, concurrency, pipeline))
        print(f"  done: {rows[-1]}", file=sys.stderr, flush=True)
    base = rows[0]["wall_s"]
    print(f"blocked tournament, {args.items} items, mode {args.mode}, judge {args.model} at a vLLM server")
    print("| concurrency | pipelined | wall s | speed-up | winner | judge calls | stored judgments |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['pipelined']} | {r['wall_s']:.1f} | {base / r['wall_s']:.2f}x "  # type: ignore[operator]
              f"| {r['winner']} | {r['calls']} | {r['stored']} |")
    winners = {r["winner"] for r in rows}
    print("winners equal: " + ("yes" if len(winners) == 1 else f"NO ({winners})"))


if __name__ == "__main__":
    main()
