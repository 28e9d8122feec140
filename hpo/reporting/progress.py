"""Progress for long runs (Ray Tune's own reporter is silenced).

On a terminal: a live `rich` display (hpo.reporting.console) with checkpoints done and ETA,
judge verdicts stored with their rate, and the last event. In CI or a pipe: plain
timestamped lines, one per event, as before. Either way a judge outage is reported as
"judge unreachable since HH:MM:SS" (from the judge client's retry warnings), then again every
30 s while it lasts, so a waiting tournament is never silent.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

OUTAGE_REPEAT_S = 30.0
OUTAGE_GAP_S = 20.0  # no retry warning for this long: the outage is over
PLAIN_TRIAL_EVERY_S = 10.0  # plain output: at most one progress line per trial this often


def wants_live(stream: TextIO) -> bool:
    """A live display only on an interactive terminal, never in CI or with HPO_PLAIN_PROGRESS."""
    if os.environ.get("CI") or os.environ.get("HPO_PLAIN_PROGRESS"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    def __init__(self, total_checkpoints: int, stream: TextIO | None = None,
                 verdicts: Any = None) -> None:
        self.total = total_checkpoints
        self.done = 0
        self.t0 = time.monotonic()
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self.live: Any = None
        self.trials: dict[str, str] = {}  # running training -> its latest progress line
        self._lines: tuple[str, ...] = ()
        self._printed: dict[str, float] = {}
        if wants_live(self.stream):
            from hpo.reporting.console import LiveView

            self.live = LiveView(self, verdicts)
        JudgeOutageWatch.attach(self)

    def say(self, text: str) -> None:
        from hpo.config.secrets import redact_text

        text = redact_text(text)
        with self._lock:
            if self.live is not None:
                self.live.event(text)
                return
            print(f"[{time.monotonic() - self.t0:7.1f}s] {text}", file=self.stream, flush=True)

    def epoch(self, training_id: str, m: dict[str, Any]) -> None:
        self.done += 1
        em = f" exact_match {m['exact_match']:.2f}" if "exact_match" in m else ""
        self.say(f"[{self.done:3d}/{self.total} checkpoints] {training_id} ep{m.get('epoch')}"
                 f" loss {m.get('train_loss', float('nan')):.3f}{em}")

    def trial(self, training_id: str, event: dict[str, Any]) -> None:
        """A trial's step or generation progress: its line in the live view (in place), or a
        plain line at most every PLAIN_TRIAL_EVERY_S per trial (the first always)."""
        line = trial_line(training_id, event)
        with self._lock:
            self.trials[training_id] = line
            self._lines = tuple(self.trials.values())
            if self.live is not None:
                return
            now = time.monotonic()
            if now - self._printed.get(training_id, -PLAIN_TRIAL_EVERY_S) < PLAIN_TRIAL_EVERY_S:
                return
            self._printed[training_id] = now
        self.say(line)

    def trial_lines(self) -> list[str]:
        """The running trials' lines. Lock-free: the live view renders on its own thread and
        inside `say` (which holds the lock); it reads a tuple replaced whole on each change."""
        return list(self._lines)

    def trial_ended(self, training_id: str) -> None:
        """The training is over: its line leaves the view."""
        with self._lock:
            self.trials.pop(training_id, None)
            self._lines = tuple(self.trials.values())

    def eta_s(self) -> float | None:
        """Seconds left at the mean pace so far (None before the first checkpoint)."""
        if not self.done or not self.total:
            return None
        return (time.monotonic() - self.t0) / self.done * max(self.total - self.done, 0)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


class JudgeOutageWatch(logging.Handler):
    """Turns the judge client's retry warnings into 'judge unreachable since ...' progress."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.WARNING)
        self.progress = progress
        self.since: float | None = None
        self.last_seen = self.last_said = 0.0

    @classmethod
    def attach(cls, progress: Progress) -> None:
        logger = logging.getLogger("judge")
        for old in [h for h in logger.handlers if isinstance(h, cls)]:
            logger.removeHandler(old)  # the newest Progress of this process reports
        logger.addHandler(cls(progress))

    def emit(self, record: logging.LogRecord) -> None:
        if "judge request failed" not in record.getMessage():
            return
        now = time.time()
        if self.since is None or now - self.last_seen > OUTAGE_GAP_S:
            self.since, self.last_said = now, 0.0
        self.last_seen = now
        if now - self.last_said >= OUTAGE_REPEAT_S:
            self.last_said = now
            since = time.strftime("%H:%M:%S", time.localtime(self.since))
            self.progress.say(f"judge unreachable since {since} ({now - self.since:.0f}s);"
                              " retrying with backoff up to judge.deadline_s, trainings go on")


def trial_line(training_id: str, e: dict[str, Any]) -> str:
    """One line of a running trial: step, loss, lr, tokens/s and ETAs; or answers generated."""
    from hpo.reporting.console import fmt_s

    if e.get("event") == "generation":
        return f"{training_id} ep{e['epoch']} generating answers {e['done']}/{e['total']}"
    epochs = f"/{e['epochs']}" if "epochs" in e else ""
    return (f"{training_id} ep{e['epoch']}{epochs} step {e['step']}/{e['steps']} loss {e['loss']:.4f}"
            f" lr {e['lr']:.2e} {e['tokens_per_s']:,.0f} tok/s ETA epoch {fmt_s(e['eta_epoch_s'])}"
            f" training {fmt_s(e.get('eta_training_s'))}")
