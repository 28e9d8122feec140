"""PandaLM's blocked tournament: shuffle, split into blocks, sequential comparison, final.

Rules (PandaLM paper, Sec. 5; documented in docs/tournament.md):

* Candidates are shuffled with `random.Random(seed).shuffle` and split into `blocks` blocks
  (80 candidates, 4 blocks -> 4 x 20). When `blocks` does not divide N the sizes differ by at
  most one, larger blocks first (like `numpy.array_split`); `blocks > N` is clamped to N.
* `order="training"` (used under `keep_weights: best`): the same shuffled block membership,
  but each block meets its members in the order they were given (the plan's training order),
  and the blocks are played at once, so each waits only for its own next checkpoint and a
  loser's weights are deleted while training goes on (disk bound: hpo.trial.weights).
* Inside a block, sequential comparison: the current best (the incumbent, `a`) meets the next
  candidate; the match winner becomes the current best. Then the block winners are compared
  the same way, in block order ("final").
* scores = win rounds: how many matches each candidate won (the paper's Fig. 8).
* Ranking: the winner, then the other block winners by win rounds, then everyone else by win
  rounds; equal win rounds by candidate id.
* Worst-case cost: N - 1 matches x n_items x 2 orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

from hpo.errors import ConfigError
from hpo.tournament.base import (
    MatchJudge,
    MatchOptions,
    MatchRecord,
    TournamentResult,
    play_independent,
)
from hpo.tournament.match import play_match

T = TypeVar("T")


def check_candidates(candidates: Sequence[str]) -> list[str]:
    """Reject an empty pool or duplicate ids (both would silently skew a bracket)."""
    pool = list(candidates)
    if not pool:
        raise ConfigError("tournament needs at least one candidate")
    if len(set(pool)) != len(pool):
        raise ConfigError("tournament candidates contain duplicate ids")
    return pool


def split_blocks(pool: Sequence[T], blocks: int) -> list[list[T]]:
    """Split into min(blocks, N) blocks whose sizes differ by at most one, larger first."""
    if blocks < 1:
        raise ConfigError(f"blocks must be >= 1, got {blocks}")
    k = min(blocks, len(pool))
    size, extra = divmod(len(pool), k)
    out: list[list[T]] = []
    start = 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        out.append(list(pool[start:end]))
        start = end
    return out


def sequential(
    order: Sequence[str], judge: MatchJudge, stage: str, *, early_decision: bool, chunk: int,
    on_eliminated: Callable[[str], None] | None = None,
) -> tuple[str, list[MatchRecord]]:
    """The current best meets each next candidate in turn; returns (winner, matches).
    Each match's loser never plays again: `on_eliminated(loser)` says so (weights pruning)."""
    best, records = order[0], []
    for challenger in order[1:]:
        rec = play_match(best, challenger, judge, early_decision=early_decision,
                         chunk=chunk, stage=stage)
        records.append(rec)
        best = rec.winner
        if on_eliminated is not None:
            on_eliminated(challenger if rec.winner == rec.a else rec.a)
    return best, records


def worst_case_calls(n_candidates: int, n_items: int) -> int:
    """Judge calls of a blocked (or knockout) tournament without early decision or store hits."""
    return max(n_candidates - 1, 0) * n_items * 2


@dataclass(frozen=True)
class BlockedOptions(MatchOptions):
    """What a user sets for `blocked`: tournament.blocks, early_decision, pipeline, order."""

    blocks: int = 4
    pipeline: bool = False  # play the blocks (independent until the final) at once
    order: Literal["shuffled", "training"] = "shuffled"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blocks < 1:
            raise ConfigError(f"blocks must be >= 1, got {self.blocks}")
        if self.order not in ("shuffled", "training"):
            raise ConfigError(f"blocked order must be 'shuffled' or 'training', got '{self.order}'")


class BlockedStrategy:
    """The PandaLM blocked tournament (see module docstring for every rule)."""

    name = "blocked"
    options_type = BlockedOptions
    hooks = frozenset({"on_eliminated"})  # keep_weights: best deletes a loser's weights at once

    def __init__(self, options: BlockedOptions | None = None, *,
                 on_eliminated: Callable[[str], None] | None = None) -> None:
        o = options or BlockedOptions()
        self.blocks, self.early_decision, self.chunk = o.blocks, o.early_decision, o.chunk
        self.pipeline, self.order, self.on_eliminated = o.pipeline, o.order, on_eliminated

    def max_calls(self, n_candidates: int, n_items: int) -> int:
        """N - 1 matches x all items x 2 orders."""
        return worst_case_calls(n_candidates, n_items)

    def run(self, candidates: Sequence[str], judge: MatchJudge, seed: int) -> TournamentResult:
        pool = check_candidates(candidates)
        given = {c: i for i, c in enumerate(pool)}
        random.Random(seed).shuffle(pool)
        members = split_blocks(pool, self.blocks)
        if self.order == "training":  # same membership, met in the order given (trained)
            members = [sorted(block, key=given.__getitem__) for block in members]
        calls_before = judge.calls
        matches: list[MatchRecord] = []
        blocks = [partial(sequential, block, judge, f"block {k}", early_decision=self.early_decision,
                          chunk=self.chunk, on_eliminated=self.on_eliminated)
                  for k, block in enumerate(members, start=1)]
        block_winners = []
        for best, recs in play_independent(blocks, self.pipeline or self.order == "training"):
            block_winners.append(best)
            matches += recs
        winner, recs = sequential(block_winners, judge, "final", early_decision=self.early_decision,
                                  chunk=self.chunk, on_eliminated=self.on_eliminated)
        matches += recs
        scores = {c: 0.0 for c in pool}
        for m in matches:
            scores[m.winner] += 1
        return TournamentResult(self.name, winner, blocked_ranking(winner, block_winners, scores),
                                matches, judge.calls - calls_before, scores)


def blocked_ranking(winner: str, block_winners: Sequence[str], scores: dict[str, float]) -> list[str]:
    """Winner, other block winners by win rounds, then the rest by win rounds; ties by id."""
    by_rounds = sorted(scores, key=lambda c: (-scores[c], c))
    others = [c for c in by_rounds if c in block_winners and c != winner]
    rest = [c for c in by_rounds if c not in block_winners]
    return [winner, *others, *rest]
