"""Search spaces as data: a YAML grid expands into trainings, whose epoch checkpoints are candidates.

    kind: grid                  # every combination is one training
    epochs: 5                   # each training runs this many epochs...
    checkpoints: [1, 2, 3, 4, 5]  # ...and these epochs' checkpoints are candidates
    warmup_ratio: 0.03
    grid: {lr: [...], optimizer: [sgd, adamw], scheduler: [cosine, linear]}

    kind: fixed                 # a single training, e.g. the Alpaca-default baseline
    tag: baseline
    config: {lr: 2.0e-5, optimizer: adamw, scheduler: cosine}
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hpo.config.schema import config_error, read_yaml
from hpo.errors import ConfigError
from hpo.types import Candidate, TrainingSpec

OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("cosine", "linear", "constant")


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    lr: float = Field(gt=0)
    optimizer: Literal["adamw", "sgd"]
    scheduler: Literal["cosine", "linear", "constant"]
    lora_rank: int | None = Field(None, gt=0)


class GridAxes(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    lr: list[float] = Field(min_length=1)
    optimizer: list[Literal["adamw", "sgd"]] = Field(min_length=1)
    scheduler: list[Literal["cosine", "linear", "constant"]] = Field(min_length=1)
    lora_rank: list[int | None] = [None]

    @model_validator(mode="after")
    def _positive(self) -> GridAxes:
        if any(lr <= 0 for lr in self.lr):
            raise ValueError("learning rates must be > 0")
        return self


class SpaceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["grid", "fixed"]
    epochs: int = Field(gt=0)
    checkpoints: list[int] | None = None
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    tag: str = Field("", pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]*)?$")  # ends up in file names
    grid: GridAxes | None = None
    config: Point | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> SpaceFile:
        if self.kind == "grid" and self.grid is None:
            raise ValueError("kind 'grid' needs a 'grid' section")
        if self.kind == "fixed" and self.config is None:
            raise ValueError("kind 'fixed' needs a 'config' section")
        bad = [e for e in self.checkpoints or [] if not 1 <= e <= self.epochs]
        if bad:
            raise ValueError(f"checkpoints {bad} outside 1..{self.epochs}")
        return self


class SearchSpace:
    """An expanded search space: trainings and the candidates their checkpoints make."""

    def __init__(self, trainings: list[TrainingSpec], checkpoints: list[int]):
        self.trainings = trainings
        self.checkpoints = checkpoints
        counts = Counter(c.candidate_id for c in self.candidates())  # linear in the ids
        dupes = sorted(i for i, n in counts.items() if n > 1)
        if dupes:
            raise ConfigError(f"duplicate candidate ids: {', '.join(dupes[:3])}")

    def candidates(self) -> list[Candidate]:
        return [c for t in self.trainings for c in t.candidates(self.checkpoints)]


def _point_spec(p: Point, f: SpaceFile, lr_multiplier: float) -> TrainingSpec:
    return TrainingSpec(optimizer=p.optimizer, lr=float(f"{p.lr * lr_multiplier:.6g}"),
                        scheduler=p.scheduler, epochs=f.epochs, warmup_ratio=f.warmup_ratio,
                        lora_rank=p.lora_rank, tag=f.tag)


def expand(f: SpaceFile, lr_multiplier: float = 1.0) -> SearchSpace:
    """Expand a validated space file into trainings (grid order: lr, optimizer, scheduler)."""
    checkpoints = f.checkpoints or list(range(1, f.epochs + 1))
    if f.kind == "fixed":
        assert f.config is not None
        return SearchSpace([_point_spec(f.config, f, lr_multiplier)], checkpoints)
    assert f.grid is not None
    g = f.grid
    points = [Point(lr=lr, optimizer=o, scheduler=s, lora_rank=r)
              for lr, o, s, r in itertools.product(g.lr, g.optimizer, g.scheduler, g.lora_rank)]
    return SearchSpace([_point_spec(p, f, lr_multiplier) for p in points], checkpoints)


def load_space(path: str | Path, lr_multiplier: float = 1.0) -> SearchSpace:
    """Load and expand a search-space YAML, with a one-line error for anything invalid."""
    p = Path(path)
    data = read_yaml(p)
    try:
        space_file = SpaceFile.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, str(p)) from None
    return expand(space_file, lr_multiplier)
