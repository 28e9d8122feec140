"""The driver's side of step-level progress: tail each trial's events.jsonl.

Trials append `step` and `generation` events (`hpo.trial.steplog`). The driver reads the lines
added since its last look (Ray Tune's loop ticks it about once a second; a training's end
flushes it) and hands each new event on: step metrics to the child run in MLflow, a line per
running trial to the progress view. With `run.transport: ray` a trial's events reach the run
folder with its checkpoint report, so they show up per checkpoint instead of as they happen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEP_METRICS = {"loss": "train/loss", "lr": "train/lr", "tokens_per_s": "train/tokens_per_s",
                "eta_epoch_s": "train/eta_epoch_s", "eta_training_s": "train/eta_training_s"}
PROGRESS_EVENTS = ("step", "generation")


def step_metrics(event: dict[str, Any]) -> dict[str, float]:
    """A `step` event as MLflow step metrics (`train/...`), plus the fractional epoch and the
    trial's system metrics under MLflow's own prefix (`system/...`: the UI's System metrics tab)."""
    out = {name: float(event[key]) for key, name in STEP_METRICS.items() if key in event}
    out |= {f"system/{k}": float(v) for k, v in (event.get("system") or {}).items()}
    out["train/epoch"] = event["epoch"] - 1 + event["step"] / max(event["steps"], 1)
    return out


class EventTail:
    """New progress events of every trial folder under `trials`, each handed to `sink` once
    (a training's new events together).

    Lines already present when the tail starts (a resumed run) are skipped: they were
    logged by the run's earlier execution."""

    def __init__(self, trials: Path, sink: Callable[[str, list[dict[str, Any]]], None],
                 interval_s: float = 1.0) -> None:
        self.trials, self.sink, self.interval_s = Path(trials), sink, interval_s
        # bytes of each events.jsonl already handed on (or skipped): a look reads only what follows
        self.seen = {p.parent.name: _size(p) for p in self.trials.glob("*/events.jsonl")}
        self.last = 0.0

    def tick(self) -> None:
        """Read every trial's new lines, at most once per `interval_s`."""
        now = time.monotonic()
        if now - self.last < self.interval_s:
            return
        self.last = now
        for path in sorted(self.trials.glob("*/events.jsonl")):
            self.flush(path.parent.name)

    def flush(self, training_id: str) -> None:
        """Hand on the new progress events of one training, in one call (now, whatever the
        interval): the sink logs them to MLflow in one batch."""
        path = self.trials / training_id / "events.jsonl"
        lines, self.seen[training_id] = _new_lines(path, self.seen.get(training_id, 0))
        events = [e for e in map(_parse, lines) if e is not None and e.get("event") in PROGRESS_EVENTS]
        if events:
            self.sink(training_id, events)


def _new_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines after byte `offset` and the offset after them: a line being written
    (no newline yet) waits for the next look. Only the new bytes are read."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    done = data.rfind(b"\n") + 1
    return data[:done].decode("utf-8", errors="replace").split("\n")[:-1], offset + done


def _size(path: Path) -> int:
    """Bytes of complete lines in `path` now (0 when unreadable)."""
    return _new_lines(path, 0)[1]


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
