"""Pipeline benchmark on the real tiny run.

Side by side, in one invocation:
  1. wall-clock of `hpo run` with the tournament overlapping training vs after training;
  2. judge calls of `blocked` with and without exact early decision, replayed on the answers
     that run 1 produced (fresh judge, no verdict store, so every call is counted).

    python benchmarks/bench_pipeline.py            # the full 80-candidate tiny default (~2 runs)
    python benchmarks/bench_pipeline.py --quick    # a 4-training grid, for a fast look
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUICK_GRID = """kind: grid
epochs: 3
checkpoints: [1, 2, 3]
grid: {lr: [2.0e-6, 2.0e-5], optimizer: [sgd, adamw], scheduler: [cosine]}
"""


def timed_run(root: Path, name: str, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "hpo.cli", "run", "-e", str(REPO / "experiments/tiny-cpu.yaml"),
           "--run-root", str(root), "--run-name", name, *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode not in (0, 3):
        sys.exit(f"run {name} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def replay_calls(run_dir: Path, early: bool) -> tuple[int, str]:
    """Judge calls of `blocked` over a finished run's answers, from scratch."""
    from hpo.config.schema import JudgeConfig, load_config
    from hpo.data import read_jsonl
    from hpo.rundir.answers import AnswerStore
    from hpo.tournament.comparator import AnswerMatchJudge, backend_inputs
    from hpo.tournament.strategies.blocked import BlockedOptions, BlockedStrategy
    from judge.pairwise import PairwiseJudge
    from judge.registry import BACKENDS

    cfg = load_config(run_dir / "config.yaml")
    val = read_jsonl(run_dir / "data" / "validation.jsonl")
    store = AnswerStore(run_dir)
    ids = [c for c in store.available() if not c.startswith("baseline")]
    answers = {c: store.read(c).answers for c in ids}
    jcfg: JudgeConfig = cfg.judge
    backend = BACKENDS.build(jcfg.backend, jcfg.settings, backend_inputs(jcfg, val))
    pairwise = PairwiseJudge(backend, None, jcfg.policy)
    strategy = BlockedStrategy(BlockedOptions(blocks=cfg.tournament.blocks, early_decision=early))
    result = strategy.run(ids, AnswerMatchJudge(answers, val, pairwise), cfg.tournament.seed)
    return result.calls, result.winner


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hpo-bench-"))
    extra: list[str] = []
    if args.quick:
        (root / "grid.yaml").write_text(QUICK_GRID)
        extra = ["--space", str(root / "grid.yaml"), "--set", "tournament.blocks=2"]
    t_overlap = timed_run(root, "overlap", extra + ["--set", "tournament.overlap=true"])
    t_serial = timed_run(root, "serial", extra + ["--set", "tournament.overlap=false"])
    calls_early, w_early = replay_calls(root / "overlap", True)
    calls_full, w_full = replay_calls(root / "overlap", False)
    print(f"{'measure':42s} {'value':>10s}")
    print(f"{'wall-clock, tournament after training (s)':42s} {t_serial:10.1f}")
    print(f"{'wall-clock, tournament overlapping (s)':42s} {t_overlap:10.1f}")
    print(f"{'  ratio serial / overlap':42s} {t_serial / t_overlap:10.2f}x")
    print(f"{'blocked judge calls, full matches':42s} {calls_full:10d}")
    print(f"{'blocked judge calls, early decision':42s} {calls_early:10d}")
    print(f"{'  ratio full / early':42s} {calls_full / max(calls_early, 1):10.2f}x")
    print(f"{'same winner with and without early decision':42s} {str(w_early == w_full):>10s}")


if __name__ == "__main__":
    main()
