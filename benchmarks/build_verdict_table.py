"""Build a dense verdict table from a finished run, for the replay model of bench_tournament_sim.

Every pair of the chosen candidates is judged on every validation item, both orders, by the
run's judge (or another one, `--set judge.backend=hf --set judge.model=PATH`, e.g. the trained
tiny judge). Judgments go through a verdict store next to the output, so an interrupted build
resumes without judging anything twice. The table is cached as `.npz`
(`hpo.testing.verdict_table`); its "true" values are Bradley-Terry strengths over the whole
table (`--value exact_match` uses the candidates' exact-match accuracy instead, when the
validation data had reference answers).

Cost: K(K-1)/2 pairs x items x 2 calls: 20 candidates x 100 items = 38,000 calls.

Run: python benchmarks/build_verdict_table.py RUN_DIR --out table.npz [--candidates 20]
     [--seed 0] [--set judge.backend=hf --set judge.model=/path/to/judge]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from hpo.config.schema import ExperimentConfig, load_config, parse_override
from hpo.data import read_jsonl
from hpo.rundir.answers import AnswerStore
from hpo.testing.verdict_table import build_table
from hpo.tournament.comparator import AnswerMatchJudge, build_backend, build_pairwise


def judged_config(run_dir: Path, overrides: list[str]) -> ExperimentConfig:
    """The run's config with `--set` overrides applied (judge settings, typically)."""
    return load_config(run_dir / "config.yaml", dict(parse_override(t) for t in overrides))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--candidates", type=int, default=20, help="seeded random subset size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--value", choices=["bt", "exact_match"], default="bt")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    cfg = judged_config(args.run_dir, args.set)
    val = read_jsonl(args.run_dir / "data" / "validation.jsonl")
    store = AnswerStore(args.run_dir)
    ids = store.available()
    ids = sorted(random.Random(args.seed).sample(ids, min(args.candidates, len(ids))))
    read = {cid: store.read(cid) for cid in ids}
    backend = build_backend(cfg.judge, val)
    pairwise = build_pairwise(cfg.judge, backend, args.out.with_suffix(".verdicts.sqlite"))
    judge = AnswerMatchJudge({c: r.answers for c, r in read.items()}, val, pairwise)
    value = [read[c].metrics["exact_match"] for c in ids] if args.value == "exact_match" else None
    table = build_table(judge, ids, value, progress=True)
    table.save(args.out)
    print(f"{args.out}: {len(ids)} candidates x {table.n_items} items, {pairwise.calls} judge "
          f"calls, true best {table.true_best}")


if __name__ == "__main__":
    main()
