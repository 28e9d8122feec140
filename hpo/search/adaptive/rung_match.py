"""A rung's judged comparison: a round robin of checkpoints, ranked by Bradley-Terry.

Every pair of the rung's checkpoints meets once (both orders per item, the configured tie policy,
exact early decision when `tournament.early_decision`), through the run's verdict store, so a
resumed rung asks nothing it asked before. Why a round robin rather than a bracket: a rung must
rank its checkpoints to keep the best ceil(n / eta), and every pair judged gives the ranking
no anchor (no "win rate against the baseline", whose noise near the top ASHA inherits); with 16
trainings it is 120 matches, on a sample of items when `search.halving.items` is set.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from hpo.config.schema import ExperimentConfig
from hpo.data import read_jsonl
from hpo.rundir.answers import AnswerStore
from hpo.tournament.base import MatchRecord
from hpo.tournament.comparator import AnswerMatchJudge
from hpo.tournament.match import play_match
from hpo.tournament.ranking import bradley_terry, copeland


def round_robin_scores(cfg: ExperimentConfig, run_dir: Path, candidates: Sequence[str],
                       items: Sequence[int] | None) -> tuple[dict[str, float], int]:
    """Bradley-Terry log-strength per candidate (plus a tiny Copeland tie-break), and the judge
    calls spent (store hits cost none)."""
    from hpo.tournament.comparator import build_backend, build_pairwise

    val = read_jsonl(Path(run_dir) / "data" / "validation.jsonl")
    store = AnswerStore(Path(run_dir))
    answers = {c: store.read(c).answers for c in candidates}
    pairwise = build_pairwise(cfg.judge, build_backend(cfg.judge, val), Path(run_dir) / "verdicts.sqlite")
    try:
        judge = AnswerMatchJudge(answers, val, pairwise)
        matches = [play_match(a, b, judge, early_decision=cfg.tournament.early_decision,
                              stage="rung", items=items)
                   for a, b in itertools.combinations(sorted(candidates), 2)]
        return rung_scores(matches, candidates), int(pairwise.calls)
    finally:
        for part in (getattr(pairwise, "store", None), getattr(pairwise, "backend", None)):
            if part is not None:
                part.close()


def rung_scores(matches: Sequence[MatchRecord], candidates: Sequence[str]) -> dict[str, float]:
    """Bradley-Terry over the item outcomes; equal strengths are ordered by match wins."""
    counts = {(m.a, m.b): [float(m.wins), float(m.losses), float(m.ties)] for m in matches}
    strength = bradley_terry(counts, list(candidates))
    wins = copeland(matches, list(candidates))
    return {c: strength[c] + 1e-6 * wins[c] for c in candidates}
