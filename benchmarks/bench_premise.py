"""The premise, measured: does an LLM judge pick better hyperparameters than the alternatives?

    python benchmarks/bench_premise.py --seeds 0 1 2 [--work DIR] [--judge-model judges/tiny-suite-judge]

For each seed, one full run of the embedded default (experiments/tiny-cpu.yaml: 80 candidates
+ the Alpaca-default baseline, train.seed = tournament.seed = seed) through the real CLI. Then,
on that run's stored answers (the same 80 candidates for every method), each selector picks one
candidate and we score it with the truth (exact match on the validation set, which no selector
reads except the `reference` oracle):

  * the tournament winner under the trained LLM judge (blocked, and racing: the robust strategy),
    with the strict tie policy and with `soft` (probabilities averaged over both orders); both
    strategies are built from the run's own config and play the run's candidates in its order,
    so the strict blocked row replays the run's own tournament;
  * the run's own pick (its report's winner), a check on that replay;
  * the same under the `reference` oracle (exact match with the gold answer, then similarity);
  * the lowest-validation-loss candidate (what classical HPO selects on);
  * the Alpaca-default baseline (its own training, 3 epochs at the default settings);
  * a random candidate (its expectation: the mean over all 80).

On the open-answer families (`--run-set 'data.synthetic.tasks=[any_order,any_letter,any_number]'`)
"exact match" is the families' checker (many answers are right), so validation loss on the one
stored reference is no answer key there.

Regret = best candidate's exact match - the pick's. Prints one row per method (mean and per
seed), plus each run's wall time. `--work DIR` keeps the runs; finished runs are reused.
Expensive: one full run takes ~4 min on 2 unloaded cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpo.config.schema import ExperimentConfig, JudgeConfig, load_config  # noqa: E402
from hpo.data import read_jsonl  # noqa: E402
from hpo.run.judge import make_strategy as make_run_strategy  # noqa: E402
from hpo.rundir.answers import AnswerStore  # noqa: E402
from hpo.tournament.base import Strategy  # noqa: E402
from hpo.tournament.comparator import (  # noqa: E402
    AnswerMatchJudge,  # noqa: E402
    build_backend,
    build_pairwise,
)
from judge.backends.hf import weights_fingerprint  # noqa: E402


def run_seed(seed: int, work: Path, experiment: Path, extra: list[str]) -> tuple[Path, float | None]:
    """One full run (reused when its report exists); returns its folder and wall seconds."""
    run_dir = work / "runs" / f"premise-s{seed}"
    if (run_dir / "report.json").is_file():
        return run_dir, None
    cmd = [sys.executable, "-m", "hpo.cli", "run", "--experiment", str(experiment),
           "--run-root", str(work / "runs"), "--run-name", f"premise-s{seed}",
           "--set", f"train.seed={seed}", "--set", f"tournament.seed={seed}",
           "--set", "tracking.backend=none", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1",
           "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"seed {seed}: run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return run_dir, time.perf_counter() - t0


def judge_store(run_dir: Path, name: str, seed_from_run: str) -> Path:
    """A verdict store kept in the run folder, one per judge, shared by both strategies (so
    racing reuses blocked's judgments) and by a re-run of this benchmark (kill-safe). The LLM
    judge's store starts as a copy of the run's own verdicts (same judge: the store's identity
    binding refuses anything else: the copy is made only when the run's store is bound to
    judge weights whose fingerprint `seed_from_run` names)."""
    path = run_dir / "premise" / f"{name}.sqlite"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() and seed_from_run and run_judge_weights(run_dir) == seed_from_run:
        with sqlite3.connect(run_dir / "verdicts.sqlite") as src, sqlite3.connect(path) as dst:
            src.backup(dst)
    return path


def run_judge_weights(run_dir: Path) -> str | None:
    """The weights fingerprint (`w=...`) of the judge the run's verdict store is bound to."""
    if not (run_dir / "verdicts.sqlite").is_file():
        return None
    with sqlite3.connect(run_dir / "verdicts.sqlite") as db:
        row = db.execute("SELECT value FROM meta WHERE name='judge'").fetchone()
    return str(row[0]).rsplit(":w=", 1)[-1] if row and ":w=" in str(row[0]) else None


def run_strategies(run_cfg: ExperimentConfig) -> dict[str, Strategy]:
    """`blocked` and `racing` built as the run builds its own strategy (`hpo run`'s
    `make_strategy`: the run's blocks, early decision and block order), so the blocked row
    replays the run's tournament rather than a variant of it."""
    def with_strategy(name: str) -> ExperimentConfig:
        tournament = run_cfg.tournament.model_copy(update={"strategy": name})
        return run_cfg.model_copy(update={"tournament": tournament})
    return {name: make_run_strategy(with_strategy(name)) for name in ("blocked", "racing")}


def tournament_picks(judge_cfg: JudgeConfig, store: Path, run_cfg: ExperimentConfig, cands: list[str],
                     answers: dict[str, list[str]], val: list[Any]) -> dict[str, str]:
    """Each strategy's winner over `cands` (in the run's order), judged by `judge_cfg` through
    `store` (one backend, so the judge model is loaded once for both strategies)."""
    backend = build_backend(judge_cfg, val)
    try:
        pairwise = build_pairwise(judge_cfg, backend, store)
        judge = AnswerMatchJudge(answers, val, pairwise)
        winners: dict[str, str] = {}
        for name, strategy in run_strategies(run_cfg).items():
            t0, calls = time.perf_counter(), pairwise.calls
            winners[name] = str(strategy.run(cands, judge, run_cfg.tournament.seed).winner)
            print(f"  {name} with {judge_cfg.backend}: {winners[name]}, "
                  f"{pairwise.calls - calls} new judge calls, {time.perf_counter() - t0:.0f} s", flush=True)
        return winners
    finally:
        backend.close()


def run_order(report: dict[str, Any], available: set[str], base_id: str | None) -> list[str]:
    """The run's candidates with answers, in the run's own order (report.json lists them in
    plan order). The strategies shuffle the list they are given with the seed, so this order,
    not sorted ids, is what gives the run's blocks: with a judge that ties most items the pick
    is the tie-break, and sorted ids replayed a different tournament from the run's."""
    return [r["candidate_id"] for r in report["candidates"]
            if r["candidate_id"] in available and r["candidate_id"] != base_id]


def same_model_as_run(run_dir: Path, judge_model: str) -> str:
    """The run's own spelling of the judge's path when it is the same folder: the judge identity
    (and so the verdict-store binding) names the path as written."""
    run_judge = (yaml.safe_load((run_dir / "config.yaml").read_text()).get("judge") or {})
    run_model = str(run_judge.get("model") or "")
    if run_model and (REPO / run_model).resolve() == Path(judge_model).resolve():
        return run_model
    return judge_model


def picks_for(run_dir: Path, judge_model: str) -> dict[str, float]:
    """Exact match of every method's pick on this run, and the best candidate's."""
    report = json.loads((run_dir / "report.json").read_text())
    base_id = (report.get("baseline") or {}).get("candidate_id")
    store = AnswerStore(run_dir)
    val = read_jsonl(run_dir / "data" / "validation.jsonl")
    cands = run_order(report, set(store.available()), base_id)
    run_cfg = load_config(run_dir / "config.yaml")  # a run's stored config is complete
    data = {c: store.read(c) for c in [*cands, *([base_id] if base_id else [])]}
    em = {c: float(d.metrics["exact_match"]) for c, d in data.items()}
    answers = {c: d.answers for c, d in data.items()}
    out = {"best": max(em[c] for c in cands), "random candidate (mean of 80)": statistics.mean(em[c] for c in cands)}
    llm = JudgeConfig(backend="hf", model=same_model_as_run(run_dir, judge_model), batch_size=128)
    soft = llm.model_copy(update={"policy": "soft"})  # same judge, same store: few new calls
    oracle = JudgeConfig(backend="reference")
    weights = weights_fingerprint(judge_model)  # a retrained judge at the same path: a new store
    for name, cfg, slug in ((f"LLM judge ({Path(judge_model).name})", llm, f"llm-{weights}"),
                            (f"LLM judge ({Path(judge_model).name}, soft)", soft, f"llm-{weights}"),
                            ("reference oracle", oracle, "reference")):
        verdicts = judge_store(run_dir, slug, seed_from_run=weights if slug.startswith("llm") else "")
        for strategy, winner in tournament_picks(cfg, verdicts, run_cfg, cands, answers, val).items():
            out[f"{name}, {strategy}"] = em[winner]
    losses = {c: d.metrics.get("validation_loss") for c, d in data.items() if c in cands}
    if all(v is not None for v in losses.values()):
        out["lowest validation loss"] = em[min(cands, key=lambda c: float(losses[c]))]  # type: ignore[arg-type]
    out[f"the run's own pick ({report['strategy']}, judge {report['judge']})"] = em[report["winner"]["candidate_id"]]
    if base_id:
        out["Alpaca-default baseline"] = em[base_id]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", type=Path, default=None, help="keep runs here (reused when finished)")
    ap.add_argument("--experiment", type=Path, default=REPO / "experiments" / "tiny-cpu.yaml")
    ap.add_argument("--judge-model", default=str(REPO / "judges" / "tiny-suite-judge"))
    ap.add_argument("--run-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for the runs (their own tournament's judge does not change the "
                         "table: every selector is re-run on the stored answers)")
    ap.add_argument("--runs-only", action="store_true", help="only produce the runs")
    args = ap.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-premise-"))).resolve()
    args.experiment, args.judge_model = args.experiment.resolve(), str(Path(args.judge_model).resolve())
    os.chdir(REPO)  # the runs ran here; their relative judge paths resolve against it
    per_seed: dict[int, dict[str, float]] = {}
    for seed in args.seeds:
        extra = [x for kv in args.run_set for x in ("--set", kv)]
        run_dir, wall = run_seed(seed, work, args.experiment, extra)
        print(f"seed {seed}: run {run_dir} " + (f"took {wall:.0f} s" if wall else "(reused)"), flush=True)
        if not args.runs_only:
            per_seed[seed] = picks_for(run_dir, args.judge_model)
    if args.runs_only:
        return
    methods = [m for m in per_seed[args.seeds[0]] if m != "best"]
    width = max(map(len, methods))
    print(f"\n{'method':<{width}}  mean EM  mean regret  " + "  ".join(f"s{s} EM/regret" for s in args.seeds))
    for m in methods:
        ems = [per_seed[s][m] for s in args.seeds]
        regrets = [per_seed[s]["best"] - per_seed[s][m] for s in args.seeds]
        cells = "  ".join(f"{e:.3f}/{r:.3f}  " for e, r in zip(ems, regrets, strict=True))
        print(f"{m:<{width}}  {statistics.mean(ems):.3f}    {statistics.mean(regrets):.3f}        {cells}")
    print(f"{'best candidate':<{width}}  {statistics.mean(per_seed[s]['best'] for s in args.seeds):.3f}")


if __name__ == "__main__":
    main()
