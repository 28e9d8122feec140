"""`hpo judge eval`: score a judge against PandaLM's human-annotated test set.

`register(subparsers)` adds the `judge` command group to the main `hpo` parser; each leaf
sets `func(args) -> int` (an exit code). `main(argv)` runs it standalone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.errors import ConfigError, UserError
from judge.policy import POLICIES
from judge.registry import BACKENDS
from judge.training import cli as training_cli

if TYPE_CHECKING:  # scoring needs sklearn: imported by the commands that score, not at start-up
    from judge.evaluate import EvalResult


def register(subparsers: Any, synthetic: Any = None) -> None:
    """Add `judge eval` and `judge train` to an argparse subparsers object; `synthetic` is the
    pair source for `judge train --synthetic` (hpo passes its suite's; judge/ has none)."""
    judge = subparsers.add_parser("judge", help="pairwise judge tools")
    commands = judge.add_subparsers(dest="judge_command", required=True)
    ev = commands.add_parser("eval", help="agreement of a judge with labels (PandaLM test set or pairs)")
    data = ev.add_mutually_exclusive_group(required=True)
    data.add_argument("--testset", type=Path, help="PandaLM test set (testset-v1.json)")
    data.add_argument("--pairs", type=Path, help="labelled pairs (.json/.jsonl), e.g. OUT/heldout.jsonl "
                                                 "from `judge train`; judged in both orders")
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
    training_cli.add_train_parser(commands, synthetic)
    train_func = commands.choices["train"].get_default("func")
    commands.choices["train"].set_defaults(func=lambda args: _as_config_errors(train_func, args))


def _as_config_errors(func: Any, args: argparse.Namespace) -> int:
    """judge.training raises ValueError for bad input; the CLI reports it as exit 2."""
    try:
        return int(func(args))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    return path


def _evaluate_backend(args: argparse.Namespace, testset: list[dict[str, Any]]) -> EvalResult:
    from judge.evaluate import evaluate_judge
    from judge.pairwise import PairwiseJudge
    from judge.store import VerdictStore

    given = (("model", args.model), ("url", args.url), ("mode", args.mode), ("tie_band", args.tie_band))
    kwargs = {k: v for k, v in given if v is not None}
    factory = BACKENDS.load(args.backend)
    try:
        backend = factory(**kwargs)
    except (TypeError, ValueError) as exc:  # arguments this command cannot give, or bad values
        raise ConfigError(f"judge backend '{args.backend}' cannot be built from {kwargs}: {exc}") from None
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
    from judge.evaluate import evaluate_verdicts, load_testset

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    if args.pairs is not None:
        return _eval_pairs(args)
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


def _eval_pairs(args: argparse.Namespace) -> int:
    """`--pairs`: a judge backend on labelled pairs, both orders (the held-out split of a
    trained judge); released verdict files do not apply."""
    from judge.pairwise import PairwiseJudge
    from judge.store import VerdictStore
    from judge.training.data import TrainingDataError, load_pairs
    from judge.training.heldout import evaluate_pairs

    if args.backend is None:
        raise ConfigError("--pairs needs --backend (and --model)")
    try:
        pairs = load_pairs(_existing(args.pairs, "pairs file"))[: args.limit]
    except TrainingDataError as exc:
        raise ConfigError(str(exc)) from None
    kwargs = {k: v for k, v in (("model", args.model), ("url", args.url)) if v is not None}
    backend = BACKENDS.load(args.backend)(**kwargs)
    store = VerdictStore(args.store) if args.store else None
    try:
        result = evaluate_pairs(pairs, PairwiseJudge(backend, store, policy=args.policy))
        result.extra["judge"] = backend.identity
    finally:
        backend.close()
        if store is not None:
            store.close()
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
