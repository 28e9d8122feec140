"""Load a new experiment: defaults -> the model's preset -> YAML -> CLI flags, then resolve
the files it names (checked before anything is written).

This sits above `hpo.config` (pure, typed settings) because presets know the models
(`hpo.models.presets`) and the DeepSpeed config is checked against the trial's rules
(`hpo.trial.deepspeed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo.config import ExperimentConfig, merge_sources, resolve_resource, validate_config
from hpo.errors import ConfigError
from hpo.models.presets import apply_preset
from hpo.trial.deepspeed import resolve_config


def load_experiment(path: Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """The experiment as `hpo run` uses it (the preset fills only what YAML and flags leave out)."""
    cfg = validate_config(apply_preset(merge_sources(path, overrides)), path)
    return resolve_files(cfg, path.parent if path else None)


def resolve_files(cfg: ExperimentConfig, base: Path | None) -> ExperimentConfig:
    """Make `train.deepspeed` absolute and check it now, before anything is written: Ray
    trials run in other working directories, so a relative path would not be found there.
    Looked up next to the experiment file first, then from the working directory, then the repo."""
    if not cfg.train.deepspeed:
        return cfg
    given = Path(cfg.train.deepspeed).expanduser()
    candidates = [given] if given.is_absolute() else [*([base / given] if base else []), given,
                                                        resolve_resource(str(given))]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ConfigError(f"train.deepspeed: config not found: {cfg.train.deepspeed} (looked in "
                          f"{', '.join(str(c.parent.resolve()) for c in candidates)})")
    cfg.train.deepspeed = str(found.resolve())
    resolve_config(cfg.train.deepspeed, cfg)  # valid JSON, "auto" values consistent
    return cfg
