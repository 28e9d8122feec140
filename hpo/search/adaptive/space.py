"""`kind: optuna` search spaces: distributions a searcher samples, validated like every config.

    kind: optuna
    epochs: 3
    checkpoints: [1, 2, 3]
    params:
      lr: {type: loguniform, low: 2.0e-6, high: 4.0e-4}   # paper units; x train.lr_multiplier
      optimizer: {type: choice, values: [sgd, adamw]}
      scheduler: {type: choice, values: [cosine, linear]}
      warmup_ratio: {type: uniform, low: 0.0, high: 0.1}
      lora_rank: {type: choice, values: [null, 8]}        # optional

Learning rates are written in the paper's (7B) units and scaled by the run's lr multiplier,
exactly like the grid files, so one space serves both the tiny model and a real one.
Sampled values are rounded (lr to 3 significant digits, warmup to 0.01) so training ids stay
readable; each sampled trial also gets a number (`t03-...`) so two close samples never share
an id, and resumed runs keep numbering where they stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hpo.config.schema import config_error, read_yaml
from hpo.errors import ConfigError
from hpo.search.space import SearchSpace
from hpo.types import TrainingSpec

TRIAL_INDEX = "trial_index"  # the key a numbered searcher adds to each sampled config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinite bounds


class LogUniform(_Strict):
    type: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be < high ({self.high:g})")
        return self


class Uniform(_Strict):
    type: Literal["uniform"]
    low: float = Field(ge=0, lt=1)
    high: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be < high ({self.high:g})")
        return self


class OptimizerChoice(_Strict):
    type: Literal["choice"]
    values: list[Literal["adamw", "sgd"]] = Field(min_length=1)


class SchedulerChoice(_Strict):
    type: Literal["choice"]
    values: list[Literal["cosine", "linear", "constant"]] = Field(min_length=1)


class RankChoice(_Strict):
    type: Literal["choice"]
    values: list[int | None] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> RankChoice:
        if any(v is not None and v <= 0 for v in self.values):
            raise ValueError("lora ranks must be > 0 (or null for full fine-tuning)")
        return self


class Params(_Strict):
    lr: LogUniform
    optimizer: OptimizerChoice
    scheduler: SchedulerChoice
    warmup_ratio: Uniform | Annotated[float, Field(ge=0, lt=1)] = 0.03
    lora_rank: RankChoice | None = None


class OptunaSpaceFile(_Strict):
    kind: Literal["optuna"]
    epochs: int = Field(gt=0)
    checkpoints: list[int] | None = None
    tag: str = "t"
    description: str = ""
    params: Params

    @model_validator(mode="after")
    def _checkpoints(self) -> OptunaSpaceFile:
        bad = [e for e in self.checkpoints or [] if not 1 <= e <= self.epochs]
        if bad:
            raise ValueError(f"checkpoints {bad} outside 1..{self.epochs}")
        if not self.tag.replace("_", "").isalnum():
            raise ValueError("tag must be letters, digits or '_'")
        return self


class AdaptiveSpace(SearchSpace):
    """A SearchSpace whose trainings are not known up front: samplers add them as they run.

    It starts empty; `add()` records each sampled training so that the run's plan (MLflow
    child runs, progress, the report) can find it. `param_space()` is for Ray Tune,
    `spec_from_config()` turns one sampled config into a TrainingSpec.
    """

    def __init__(self, file: OptunaSpaceFile, lr_multiplier: float = 1.0) -> None:
        self.file = file
        self.lr_multiplier = lr_multiplier
        super().__init__([], list(file.checkpoints or range(1, file.epochs + 1)))

    def add(self, spec: TrainingSpec) -> None:
        if spec.training_id not in {t.training_id for t in self.trainings}:
            self.trainings.append(spec)

    def param_space(self) -> dict[str, Any]:
        """Ray Tune distributions (lr already scaled by the lr multiplier)."""
        from ray import tune

        p, m = self.file.params, self.lr_multiplier
        space: dict[str, Any] = {
            "lr": tune.loguniform(p.lr.low * m, p.lr.high * m),
            "optimizer": tune.choice(list(p.optimizer.values)),
            "scheduler": tune.choice(list(p.scheduler.values)),
        }
        if isinstance(p.warmup_ratio, Uniform):
            space["warmup_ratio"] = tune.uniform(p.warmup_ratio.low, p.warmup_ratio.high)
        if p.lora_rank is not None:
            space["lora_rank"] = tune.choice(list(p.lora_rank.values))
        return space

    def spec_from_config(self, config: dict[str, Any]) -> TrainingSpec:
        """Rounded, numbered TrainingSpec for a sampled config (same config -> same id)."""
        p = self.file.params
        warmup = config.get("warmup_ratio", p.warmup_ratio)
        index = config.get(TRIAL_INDEX)
        tag = f"{self.file.tag}{int(index):02d}" if index is not None else self.file.tag
        return TrainingSpec(optimizer=str(config["optimizer"]), lr=float(f"{float(config['lr']):.3g}"),
                            scheduler=str(config["scheduler"]), epochs=self.file.epochs,
                            warmup_ratio=round(float(warmup), 2), lora_rank=config.get("lora_rank"),
                            tag=tag)


def load_adaptive_space(path: str | Path, lr_multiplier: float = 1.0) -> AdaptiveSpace:
    """Load a `kind: optuna` space file, with a one-line ConfigError for anything invalid."""
    p = Path(path)
    data = read_yaml(p)
    if data.get("kind") != "optuna":
        raise ConfigError(f"{p}: search.search 'optuna' needs a 'kind: optuna' space,"
                          f" got kind {data.get('kind')!r}")
    try:
        return AdaptiveSpace(OptunaSpaceFile.model_validate(data), lr_multiplier)
    except ValidationError as exc:
        raise config_error(exc, str(p)) from None
