"""`keep_weights: best`: a candidate's weights live only while it is still in contention.

A 7B checkpoint is ~14 GB (bf16 safetensors); 80 of them are 1.1 TB. The trial writes a
checkpoint's weights *before* its answers, so a candidate the tournament can judge always has
its weights on disk; when the tournament eliminates it, `WeightsPruner.eliminated` deletes
them at once. The interface to the tournament is one callable, `on_eliminated(candidate_id)`,
which a strategy that knows eliminations accepts (blocked: every match's loser is out for
good). Strategies without it keep every checkpoint until the decision, which then keeps the
winner's alone (`hpo.decision.prune_weights`). Protected ids (the baseline) are never deleted.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from hpo.config.schema import ExperimentConfig


class WeightsPruner:
    def __init__(self, run_dir: Path, protect: Iterable[str] = ()) -> None:
        self.root = Path(run_dir) / "weights"
        self.protect = set(protect)
        self.deleted: list[str] = []
        self._lock = threading.Lock()

    def eliminated(self, candidate_id: str) -> None:
        """Delete `candidate_id`'s weights (idempotent: a resumed tournament replays matches)."""
        if candidate_id in self.protect or "/" in candidate_id or candidate_id.startswith("."):
            return
        with self._lock:
            target = self.root / candidate_id
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
                self.deleted.append(candidate_id)


def elimination_hook(cfg: ExperimentConfig, run_dir: Path,
                     protect: Iterable[str] = ()) -> Callable[[str], None] | None:
    """The `on_eliminated` callable for this run, or None when weights are not pruned early."""
    if cfg.train.keep_weights != "best":
        return None
    return WeightsPruner(run_dir, protect).eliminated


def block_order(cfg: ExperimentConfig) -> str:
    """The blocked tournament's order inside a block: `tournament.order`, where "auto" is
    "training" under `keep_weights: best` (so pruning keeps pace with training) else "shuffled"."""
    order = cfg.tournament.order
    if order == "auto":
        return "training" if cfg.train.keep_weights == "best" else "shuffled"
    return order


def kept_weights_bound(n_candidates: int, per_training: int, concurrent: int, blocks: int,
                       order: str, keep: str, baseline: bool) -> int:
    """Most checkpoints' weights on disk at once.

    `all`, or `best` with shuffled blocks: every candidate (a block may wait on the last one
    trained). `best` with blocks in training order, trainings launched in plan order `c` at a
    time and ending in that order, the judge keeping up: each block holds its incumbent (B),
    each training in flight its newest checkpoint while it is judged (c), and a block waiting
    on training i holds what the other c - 1 trainings in flight wrote past it (at most E - 1
    each): B + c + (c - 1)(E - 1), never more than N. The baseline's weights are kept too."""
    if keep == "none":
        return 0
    extra = 1 if baseline else 0
    if keep == "all" or order != "training":
        return n_candidates + extra
    b, c, e = min(blocks, n_candidates), concurrent, per_training
    return min(b + c + (c - 1) * (e - 1), n_candidates) + extra
