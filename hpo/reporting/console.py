"""The live terminal view of hpo.reporting.progress, built with `rich` (only used on a terminal).

Lines that refresh twice a second: checkpoints done of planned with ETA, one line per running
trial (step, loss, lr, tokens/s, ETA; or answers generated), judge
verdicts stored in the run's verdict store with their rate (and how many were already there:
what a resume reuses instead of paying for), and the latest event (a finished checkpoint, a
match, a judge outage). Events also scroll above the view, so nothing printed is lost.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def count_verdicts(path: Path | None) -> int | None:
    """Rows in the verdict store, read-only (None when there is no store yet)."""
    if path is None or not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])
    except sqlite3.Error:
        return None


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    return f"{m // 60:d}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m:02d}:{s:02d}"


class LiveView:
    def __init__(self, progress: Any, verdicts: Path | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.progress, self.verdicts = progress, verdicts
        self.console = Console(file=progress.stream)
        self.last_event = "starting"
        self.t0 = time.monotonic()
        self.stored_at_start = count_verdicts(verdicts)
        self.live = Live(self, console=self.console, refresh_per_second=2, transient=False)
        self.live.start()

    def event(self, text: str) -> None:
        self.last_event = text
        self.console.log(text)

    def judge_line(self) -> str:
        now = count_verdicts(self.verdicts)
        if now is None:
            return "judge: no verdicts yet"
        start = self.stored_at_start or 0
        new = now - start
        rate = new / max(time.monotonic() - self.t0, 1e-6)
        return f"judge: {new} new verdicts ({rate:.1f}/s), {start} reused from store"

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        p = self.progress
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=max(p.total, 1), completed=p.done, width=30),
                     f"checkpoints {p.done}/{p.total}  elapsed {fmt_s(time.monotonic() - p.t0)}"
                     f"  ETA {fmt_s(p.eta_s())}")
        for line in p.trial_lines():  # one line per running trial, updated in place
            grid.add_row("", line[:160])
        grid.add_row("", self.judge_line())
        grid.add_row("", f"now: {self.last_event[:120]}")
        return grid

    def stop(self) -> None:
        self.live.stop()
