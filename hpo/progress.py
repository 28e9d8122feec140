"""Human-readable progress lines for long runs (Ray Tune's own reporter is silenced)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, total_checkpoints: int, stream: TextIO | None = None) -> None:
        self.total = total_checkpoints
        self.done = 0
        self.t0 = time.monotonic()
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.t0:7.1f}s] {text}", file=self.stream, flush=True)

    def epoch(self, training_id: str, m: dict[str, Any]) -> None:
        self.done += 1
        em = f" exact_match {m['exact_match']:.2f}" if "exact_match" in m else ""
        self.say(f"[{self.done:3d}/{self.total} checkpoints] {training_id} ep{m.get('epoch')}"
                 f" loss {m.get('train_loss', float('nan')):.3f}{em}")
