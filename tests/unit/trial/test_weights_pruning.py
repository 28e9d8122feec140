"""keep_weights: best: the blocked tournament deletes each eliminated candidate's weights."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.run.judge import make_strategy
from hpo.tournament.base import A_WINS, B_WINS, ItemOutcome, MatchRecord
from hpo.tournament.strategies.blocked import BlockedOptions, BlockedStrategy
from hpo.trial.weights import WeightsPruner, block_order, elimination_hook, kept_weights_bound


class RankJudge:
    """The candidate with the larger number wins every item."""

    n_items, calls = 4, 0

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        return [A_WINS if int(a[1:]) > int(b[1:]) else B_WINS for _ in items]


def test_blocked_tournament_deletes_losers_weights_as_they_lose(tmp_path: Path) -> None:
    ids = [f"c{i}" for i in range(8)]
    for cid in [*ids, "base"]:
        (tmp_path / "weights" / cid).mkdir(parents=True)
    pruner = WeightsPruner(tmp_path, protect=["base"])
    seen: list[list[str]] = []

    def on_eliminated(cid: str) -> None:
        pruner.eliminated(cid)
        seen.append(sorted(p.name for p in (tmp_path / "weights").iterdir()))

    result = BlockedStrategy(BlockedOptions(blocks=2), on_eliminated=on_eliminated).run(ids, RankJudge(), seed=0)
    assert result.winner == "c7"
    assert sorted(pruner.deleted) == [c for c in ids if c != "c7"]  # each loser once
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["base", "c7"]
    assert [len(s) for s in seen] == list(range(8, 1, -1))  # one fewer after every match
    pruner.eliminated("c3")  # replayed on resume: no error, nothing more deleted
    assert len(pruner.deleted) == 7


def test_hook_only_for_keep_weights_best(tmp_path: Path) -> None:
    assert elimination_hook(ExperimentConfig.model_validate({}), tmp_path) is None
    best = ExperimentConfig.model_validate({"train": {"keep_weights": "best"}})
    assert callable(elimination_hook(best, tmp_path))


# --- disk: how many checkpoints' weights are on disk at once while trainings and tournament run


def schedule(n_trainings: int, epochs: int, concurrent: int, rng: random.Random, spread: float) -> dict[str, float]:
    """When each checkpoint's weights land: trainings start in plan order, `concurrent` at a
    time (a slot frees when its training ends), each epoch takes 1 +- `spread` time units."""
    slots, ready = [0.0] * concurrent, {}
    for t in range(n_trainings):
        k = min(range(concurrent), key=slots.__getitem__)
        clock, speed = slots[k], rng.uniform(1 - spread, 1 + spread)
        for e in range(1, epochs + 1):
            clock += speed
            ready[f"t{t:02d}-e{e}"] = clock
        slots[k] = clock
    return ready


def peak_on_disk(matches: Sequence[MatchRecord], ready: dict[str, float], blocks_at_once: bool) -> int:
    """Most weights on disk at once: a checkpoint's land at `ready`; a match is played as soon as
    both sides are ready and its stage's previous match is done (blocks one after another unless
    `blocks_at_once`; the final after every block), and its loser's weights go then."""
    done: dict[str, float] = {}
    gone: list[float] = []
    for m in matches:
        if m.stage not in done:
            done[m.stage] = max(done.values(), default=0.0) if m.stage == "final" or not blocks_at_once else 0.0
        done[m.stage] = max(done[m.stage], ready[m.a], ready[m.b])
        gone.append(done[m.stage])
    events = sorted([(t, 0) for t in ready.values()] + [(t, 1) for t in gone])
    on_disk = peak = 0
    for _, kind in events:
        on_disk += -1 if kind else 1
        peak = max(peak, on_disk)
    return peak


def simulated_peaks(cfg: ExperimentConfig, spread: float, seeds: int = 40) -> list[int]:
    """Peak weights on disk of the run's own strategy (as `hpo run` builds it) over `seeds`
    random schedules and random judge outcomes: 16 trainings x 5 checkpoints, 3 at a time."""
    peaks = []
    for seed in range(seeds):
        rng = random.Random(seed)
        ready = schedule(16, 5, cfg.search.max_concurrent, rng, spread)
        quality = {c: rng.random() for c in ready}
        strategy = make_strategy(cfg)
        result = strategy.run(list(ready), QualityJudge(quality), seed)
        at_once = strategy.pipeline or getattr(strategy, "order", "shuffled") == "training"
        peaks.append(peak_on_disk(result.matches, ready, at_once))
    return peaks


class QualityJudge:
    """The candidate of higher hidden quality wins every item."""

    n_items, calls = 2, 0

    def __init__(self, quality: dict[str, float]) -> None:
        self.quality = quality

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        return [A_WINS if self.quality[a] >= self.quality[b] else B_WINS for _ in items]


def _best(**tournament: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"train": {"keep_weights": "best"}, "search": {"max_concurrent": 3},
                                            "tournament": {"blocks": 4, **tournament}})


def test_shuffled_blocks_keep_most_checkpoints_on_disk() -> None:
    peaks = simulated_peaks(_best(order="shuffled"), spread=0.0)
    assert statistics.median(peaks) >= 60  # the paper's order: blocks wait on late checkpoints


@pytest.mark.parametrize("spread", [0.0, 0.05])
def test_keep_weights_best_stays_under_the_printed_bound(spread: float) -> None:
    cfg = _best()  # tournament.order auto: what `hpo run` plays under keep_weights: best
    bound = kept_weights_bound(80, 5, 3, 4, block_order(cfg), "best", baseline=False)
    assert bound == 4 + 3 + 2 * 4  # B + c + (c - 1)(E - 1)
    peaks = simulated_peaks(cfg, spread)
    assert max(peaks) <= bound, f"peaks {sorted(peaks)[-5:]} exceed the bound {bound}"


def test_training_order_keeps_membership_and_pinned_shuffled_bracket() -> None:
    ids = [f"c{i}" for i in range(8)]
    judge = RankJudge()
    shuffled = BlockedStrategy(BlockedOptions(blocks=2)).run(ids, judge, seed=0)
    trained = BlockedStrategy(BlockedOptions(blocks=2, order="training")).run(ids, judge, seed=0)

    def members(matches: Sequence[MatchRecord]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for m in matches:
            out.setdefault(m.stage, set()).update({m.a, m.b})
        return out

    assert members(trained.matches) == members(shuffled.matches)  # the same blocks, reordered
    assert [m.a for m in trained.matches if m.stage == "block 1"] == ["c1", "c2", "c4"]  # c4 c1 c5 c2 sorted
    assert trained.winner == shuffled.winner == "c7"
    assert block_order(ExperimentConfig.model_validate({})) == "shuffled"
