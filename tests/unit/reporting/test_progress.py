"""Progress: plain lines in a pipe, a live rich view on a terminal, judge outages reported."""

from __future__ import annotations

import io
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from hpo.reporting.progress import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    p = Progress(4, stream=out)
    assert p.live is None
    p.epoch("adamw-lr1e-03-cosine", {"epoch": 1, "train_loss": 1.25, "exact_match": 0.5})
    assert "[  1/4 checkpoints] adamw-lr1e-03-cosine ep1 loss 1.250 exact_match 0.50" in out.getvalue()


def test_live_view_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HPO_PLAIN_PROGRESS", raising=False)
    store = tmp_path / "verdicts.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE verdicts (k TEXT)")
        conn.executemany("INSERT INTO verdicts VALUES (?)", [("a",), ("b",)])
    out = FakeTty()
    p = Progress(4, stream=out, verdicts=store)
    assert p.live is not None
    try:
        p.epoch("t1", {"epoch": 1, "train_loss": 1.0})
        p.epoch("t1", {"epoch": 2, "train_loss": 0.5})
        with sqlite3.connect(store) as conn:
            conn.executemany("INSERT INTO verdicts VALUES (?)", [("c",)] * 3)
        p.live.live.refresh()
    finally:
        p.close()
    text = " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).split())
    assert "checkpoints 2/4" in text and "ETA" in text
    assert "judge: 3 new verdicts" in text and "2 reused from store" in text
    assert "t1 ep2 loss 0.500" in text


def test_ci_never_gets_a_live_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert Progress(1, stream=FakeTty()).live is None


def test_judge_outage_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    Progress(1, stream=out)
    log = logging.getLogger("judge.backends.vllm")
    log.warning("judge request failed (%s); retry %d in %.1fs", "server unreachable", 1, 0.5)
    log.warning("judge request failed (%s); retry %d in %.1fs", "server unreachable", 2, 1.0)
    lines = [ln for ln in out.getvalue().splitlines() if "judge unreachable since" in ln]
    assert len(lines) == 1  # once per outage (then every 30 s), not per retry
