"""Plain value types passed between roles: what a training is, what a candidate is, what an example is."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def format_lr(lr: float) -> str:
    """Readable, stable learning-rate token: 2e-05 -> 'lr2e-05', 0.001 -> 'lr1e-03'."""
    return "lr" + f"{lr:.0e}" if float(f"{lr:.0e}") == lr else "lr" + f"{lr:.3g}"


@dataclass(frozen=True)
class TrainingSpec:
    """One training run. Its epoch checkpoints are the candidates."""

    optimizer: str  # "adamw" | "sgd"
    lr: float
    scheduler: str  # "cosine" | "linear" | "constant"
    epochs: int
    warmup_ratio: float = 0.03
    lora_rank: int | None = None  # None = full fine-tuning
    tag: str = ""  # optional prefix, e.g. "baseline"

    @property
    def training_id(self) -> str:
        parts = [self.tag] if self.tag else []
        parts += [self.optimizer, format_lr(self.lr), self.scheduler]
        if self.lora_rank:
            parts.append(f"lora{self.lora_rank}")
        return "-".join(parts)

    def candidate_id(self, epoch: int) -> str:
        return f"{self.training_id}-ep{epoch}"

    def candidates(self, epochs: list[int] | None = None) -> list[Candidate]:
        return [Candidate(self.candidate_id(e), self, e) for e in (epochs or range(1, self.epochs + 1))]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingSpec:
        return cls(**d)


@dataclass(frozen=True)
class Candidate:
    """A checkpoint: one training at one epoch. Identified by a readable, stable id."""

    candidate_id: str
    spec: TrainingSpec
    epoch: int

    @property
    def training_id(self) -> str:
        return self.spec.training_id


@dataclass(frozen=True)
class Example:
    """An instruction-tuning example in Alpaca form. `output` is None for validation-only items."""

    instruction: str
    input: str = ""
    output: str | None = None
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
