"""The bootstrap confidence set for the winner on constructed tournaments."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.testing.noise import PANDALM_7B, independent_table
from hpo.testing.verdict_table import TableJudge
from hpo.tournament.confidence import ItemLog, winner_confidence_set
from hpo.tournament.registry import make_strategy

N = 60


def pair(a: str, b: str, a_wins: int) -> list[tuple[str, str, int, int]]:
    """a wins its first `a_wins` items (spread over all items), loses the rest."""
    won = {round(k * N / a_wins) for k in range(a_wins)} if a_wins else set()
    return [(a, b, i, 1 if i in won else -1) for i in range(N)]


@pytest.mark.parametrize("method", ["bradley_terry", "copeland"])
def test_two_equal_candidates_share_the_set(method: str) -> None:
    obs = pair("x", "y", N // 2) + pair("x", "z", 50) + pair("y", "z", 50)
    result = winner_confidence_set(obs, ["x", "y", "z"], "x", N, method=method)
    assert result.members == ["x", "y"] and not result.clear  # z is clearly worse: out


@pytest.mark.parametrize("method", ["bradley_terry", "copeland"])
def test_a_clear_best_stands_alone(method: str) -> None:
    obs = pair("x", "y", 55) + pair("x", "z", 55) + pair("y", "z", N // 2)
    result = winner_confidence_set(obs, ["x", "y", "z"], "x", N, method=method)
    assert result.members == ["x"] and result.clear


def test_a_wrong_winner_brings_the_better_one_in() -> None:
    """If the reported winner is y while x clearly beats it, x must be in y's set."""
    obs = pair("x", "y", 55) + pair("x", "z", 55) + pair("y", "z", 40)
    result = winner_confidence_set(obs, ["x", "y", "z"], "y", N)
    assert "x" in result.members and result.not_worse_share["x"] > 0.95


def test_item_log_feeds_a_real_strategy() -> None:
    table = independent_table(np.linspace(0, 3, 8), 40, PANDALM_7B, seed=0)
    log = ItemLog(TableJudge(table))
    result = make_strategy("round_robin").run(table.ids, log, seed=0)
    assert len(log.observations()) <= 28 * 40 and log.calls == result.calls
    conf = winner_confidence_set(log.observations(), table.ids, result.winner, 40)
    assert conf.members[0] == result.winner


def test_terminal_report_says_plainly_when_the_set_is_not_a_singleton() -> None:
    from hpo.reporting.report import confidence_lines

    obs = pair("x", "y", N // 2) + pair("x", "z", 50) + pair("y", "z", 50)
    shared = winner_confidence_set(obs, ["x", "y", "z"], "x", N).to_dict()
    text = "\n".join(confidence_lines(shared))
    assert "NOT CLEARLY BEST: 1 other candidate(s)" in text and "y" in text and "z" not in text
    alone = winner_confidence_set(pair("x", "y", 55), ["x", "y"], "x", N).to_dict()
    assert "clearly best at 95%" in "\n".join(confidence_lines(alone))
    assert confidence_lines(None) == []
