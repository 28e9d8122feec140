"""`hpo judge eval`: score a judge against PandaLM's human-annotated test set.

`register(subparsers)` adds the `judge` command group to the main `hpo` parser; each leaf
sets `func(args) -> int` (an exit code). `main(argv)` runs it standalone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judge.errors import ConfigError, UserError
from judge.evaluate import EvalResult, evaluate_judge, evaluate_verdicts, load_testset
from judge.pairwise import PairwiseJudge
from judge.policy import POLICIES
from judge.registry import BACKENDS
from judge.store import VerdictStore


def register(subparsers: Any) -> None:
    """Add `judge eval` to an argparse subparsers object."""
    judge = subparsers.add_parser("judge", help="pairwise judge tools")
    commands = judge.add_subparsers(dest="judge_command", required=True)
    ev = commands.add_parser("eval", help="agreement of a judge with human labels (PandaLM test set)")
    ev.add_argument("--testset", type=Path, required=True, help="PandaLM test set (testset-v1.json)")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--verdicts", type=Path, help="released verdicts (pandalm_result or gpt_result)")
    source.add_argument("--backend", help=f"judge backend: {', '.join(BACKENDS.names())}")
    ev.add_argument("--model", help="judge model (path or served name), for --backend")
    ev.add_argument("--url", help="judge server URL, for --backend vllm")
    ev.add_argument("--store", type=Path, help="verdict store (sqlite) to reuse judgments")
    ev.add_argument("--policy", default="strict", choices=POLICIES, help="tie policy for --both-orders")
    ev.add_argument("--mode", help="judge mode for --backend hf/vllm: verdict, full, logprobs, faithful")
    ev.add_argument("--tie-band", type=float, help="logprobs/soft: a |P(1) - P(2)| this close is a Tie")
    ev.add_argument("--both-orders", action="store_true", help="judge swapped order too")
    ev.add_argument("--invalid-as-tie", action="store_true",
                    help="count invalid verdicts as ties (reproduces PandaLM's compute_metrics.py)")
    ev.add_argument("--limit", type=int, help="judge only the first N items")
    ev.set_defaults(func=run_eval)


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    return path


def _evaluate_backend(args: argparse.Namespace, testset: list[dict[str, Any]]) -> EvalResult:
    given = (("model", args.model), ("url", args.url), ("mode", args.mode), ("tie_band", args.tie_band))
    kwargs = {k: v for k, v in given if v is not None}
    factory = BACKENDS.load(args.backend)
    try:
        backend = factory(**kwargs)
    except TypeError as exc:  # e.g. a backend that needs arguments this command cannot give
        raise ConfigError(f"judge backend '{args.backend}' cannot be built from {kwargs}: {exc}") from exc
    store = VerdictStore(args.store) if args.store else None
    try:
        judge = PairwiseJudge(backend, store, policy=args.policy, tie_band=args.tie_band or 0.0)
        result = evaluate_judge(testset, judge, args.both_orders, args.invalid_as_tie)
        result.extra.update(judge=backend.identity, calls=judge.calls, cache_hits=judge.cache_hits)
        return result
    finally:
        backend.close()
        if store is not None:
            store.close()


def run_eval(args: argparse.Namespace) -> int:
    """Print the metrics table; raise ConfigError for bad paths or flags."""
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    testset = load_testset(_existing(args.testset, "test set"))[: args.limit]
    if args.verdicts is not None:
        if args.both_orders:
            raise ConfigError("--both-orders needs --backend; a verdicts file holds one order")
        result = evaluate_verdicts(testset, _existing(args.verdicts, "verdicts file"),
                                   invalid_as_tie=args.invalid_as_tie)
    else:
        result = _evaluate_backend(args, testset)
    print(result.as_table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: `python -m judge.cli judge eval ...`."""
    parser = argparse.ArgumentParser(prog="hpo")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
