"""The tournament's contracts: how a strategy asks for judgments, and what it returns.

A strategy sees candidate ids and a `MatchJudge`; it never sees answers, models or backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from hpo.errors import ConfigError

# Per-instruction outcome of a both-orders comparison, from the first candidate's view.
A_WINS, B_WINS, TIE = 1, -1, 0
# None = the judge gave an invalid verdict even after retries: counted, never a tie.
ItemOutcome = int | None


@runtime_checkable
class MatchJudge(Protocol):
    """Judges candidate `a` against `b` on some validation items, both orders, tie policy applied."""

    @property
    def n_items(self) -> int:
        """Number of validation items every candidate answered."""

    @property
    def calls(self) -> int:
        """Single-order judge calls requested so far (store hits excluded)."""

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]: ...


@dataclass
class MatchRecord:
    """One match of a bracket. `winner` is a or b; equal counts go to `a` (the incumbent)."""

    a: str
    b: str
    wins: int  # items a won
    losses: int  # items b won
    ties: int
    invalid: int
    winner: str
    items_judged: int
    items_total: int
    calls: int  # judge calls this match cost
    stage: str = ""  # e.g. "block 2", "final", "round 1"

    @property
    def decided_early(self) -> bool:
        return self.items_judged < self.items_total


@dataclass
class TournamentResult:
    strategy: str
    winner: str
    ranking: list[str]  # best first, as implied by the strategy
    matches: list[MatchRecord] = field(default_factory=list)
    calls: int = 0
    scores: dict[str, float] = field(default_factory=dict)  # strategy-specific (win rounds, BT score)


@runtime_checkable
class Strategy(Protocol):
    """A tournament strategy. Deterministic given `seed`."""

    name: str

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult: ...

    # each strategy declares its own worst case, for `--dry-run` and the benchmark.
    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """Most single-order judge calls a run can spend (no early decision, no store hits)."""
        ...

@dataclass(frozen=True)
class MatchOptions:
    """How a strategy plays its matches; the options every judged strategy takes."""

    early_decision: bool = True  # stop a match once its winner is certain
    chunk: int = 8  # items judged per step of an early-decided match

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ConfigError("chunk must be >= 1")


@dataclass(frozen=True)
class Hooks:
    """Callbacks the run supplies to a strategy; not user options. A strategy names the ones
    it takes in its `hooks` class attribute and the registry passes it exactly those."""

    on_eliminated: Callable[[str], None] | None = None  # a loser never plays again (pruning)
    losses: Callable[[str], float | None] | None = None  # a candidate's validation loss


T = TypeVar("T")


def play_independent(tasks: Sequence[Callable[[], T]], pipeline: bool) -> list[T]:
    """Results of `tasks` in order. A strategy passes groups of matches that do not depend on
    each other (the blocks of `blocked`); with `pipeline` they run at once, each in a thread,
    so the judge backend sees all their requests together and keeps `judge.concurrency` of
    them in flight; without it, one after another. Each task plays its own matches in its own
    order, so winners (and early decisions) are the same either way. With `pipeline` the
    `calls` of matches played at the same time overlap; the tournament total stays exact."""
    if not pipeline or len(tasks) < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="match") as pool:
        futures = [pool.submit(task) for task in tasks]
        return [f.result() for f in futures]
