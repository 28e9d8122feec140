"""What a run will do, computed from the config alone: validated before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpo.config.schema import ExperimentConfig, lr_multiplier, resolve_resource
from hpo.errors import ConfigError
from hpo.search.space import SearchSpace, load_space
from hpo.types import Candidate, TrainingSpec


@dataclass
class Plan:
    """The trainings to run and the candidates (checkpoints) the tournament decides between."""

    space: SearchSpace
    baseline: Candidate | None
    _by_id: dict[str, TrainingSpec] = field(default_factory=dict, init=False, repr=False,
                                            compare=False)

    def training(self, training_id: str) -> TrainingSpec:
        """The spec of one training by id (a search may add trainings as it runs)."""
        if training_id not in self._by_id:
            self._by_id = {t.training_id: t for t in self.trainings}
        return self._by_id[training_id]

    @property
    def trainings(self) -> list[TrainingSpec]:
        extra = [self.baseline.spec] if self.baseline else []
        return self.space.trainings + extra

    @property
    def candidates(self) -> list[Candidate]:
        return self.space.candidates()

    def checkpoints(self) -> dict[str, list[int]]:
        out = {t.training_id: list(self.space.checkpoints) for t in self.space.trainings}
        if self.baseline:
            out[self.baseline.training_id] = [self.baseline.epoch]
        return out

    def summary(self, n_items: int, strategy: str, strategy_calls: int) -> str:
        """The plan in a few lines; `strategy_calls` is the strategy's own judge-call bound."""
        n = len(self.candidates)
        epochs = sum(t.epochs for t in self.trainings)
        gens = (n + (1 if self.baseline else 0)) * n_items
        worst = strategy_calls + (n_items * 2 if self.baseline else 0)
        lines = [
            f"trainings        {len(self.trainings)} ({len(self.space.trainings)} grid"
            f"{' + 1 baseline' if self.baseline else ''}), {epochs} epochs in all",
            f"candidates       {n} (checkpoints at epochs {self.space.checkpoints})",
            f"generations      {gens} ({n_items} validation items per candidate)",
            f"judge calls      at most {worst} for '{strategy}' + baseline match"
            " (both orders; early decision and the verdict store cut this)",
        ]
        return "\n".join(lines)


def make_plan(cfg: ExperimentConfig, space: SearchSpace) -> Plan:
    """The loaded search space plus the baseline, checked before anything is written."""
    baseline = _baseline(cfg, lr_multiplier(cfg))
    if baseline and baseline.candidate_id in {c.candidate_id for c in space.candidates()}:
        raise ConfigError(f"baseline id {baseline.candidate_id} collides with a grid candidate; set a tag")
    if cfg.search.needs_anchor and baseline is None:
        raise ConfigError("adaptive search needs search.baseline: its answers are the anchor"
                          " that judge_winrate is measured against")
    return Plan(space, baseline)


def load_grid(cfg: ExperimentConfig) -> SearchSpace:
    """`search.space` as a grid (or fixed) space file; an empty grid is bad input."""
    space = load_space(resolve_resource(cfg.search.space, what="search.space: file"), lr_multiplier(cfg))
    if not space.trainings:
        raise ConfigError(f"{cfg.search.space}: the grid is empty")
    return space


def _baseline(cfg: ExperimentConfig, mult: float) -> Candidate | None:
    if not cfg.search.baseline:
        return None
    candidates = load_space(resolve_resource(cfg.search.baseline, what="search.baseline: file"), mult).candidates()
    if len(candidates) != 1:
        raise ConfigError(f"{cfg.search.baseline}: a baseline must be one training with one checkpoint")
    return candidates[0]
