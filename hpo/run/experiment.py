"""Load a new experiment: defaults -> the model's preset -> YAML -> CLI flags, then resolve
the files it names (checked before anything is written).

This sits above `hpo.config.schema` (pure, typed settings) because presets know the models
(`hpo.models.presets`) and the DeepSpeed config is checked against the trial's rules
(`hpo.trial.deepspeed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo.config.schema import (
    ExperimentConfig,
    TournamentConfig,
    find_resource,
    merge_sources,
    read_yaml,
    resolve_resource,
    validate_config,
)
from hpo.errors import ConfigError
from hpo.models.presets import apply_preset
from hpo.tournament.registry import STRATEGIES, option_names
from hpo.trial.deepspeed import resolve_config


def load_experiment(path: Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """The experiment as `hpo run` uses it (the preset fills only what YAML and flags leave out).
    `path` is the user's file, else a packaged template of that name (`experiments/tiny-cpu.yaml`)."""
    path = experiment_file(path) if path else None
    data = rebase_tournament(merge_sources(path, overrides), read_yaml(path) if path else {}, overrides or {})
    cfg = validate_config(apply_preset(data), path)
    check_strategy_options(cfg, str(path) if path else "config")
    return resolve_files(cfg, path.parent if path else None)


def rebase_tournament(data: dict[str, Any], file: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A flag that names another strategy than the file's drops the file's strategy options
    that strategy does not take (`--strategy racing` over a file's `blocked` with `blocks: 4`),
    as `--judge` does with the file's judge options; options given as flags are still checked."""
    strategy = overrides.get("tournament.strategy")
    section, file_section = data.get("tournament"), file.get("tournament")
    if (strategy is None or not isinstance(section, dict) or not isinstance(file_section, dict)
            or strategy == file_section.get("strategy", "blocked") or strategy not in STRATEGIES.names()):
        return data
    takes = set(option_names(strategy))
    for key in TournamentConfig.strategy_options:
        if key in file_section and key not in takes and f"tournament.{key}" not in overrides:
            section.pop(key, None)
    return data


def check_strategy_options(cfg: ExperimentConfig, source: str) -> None:
    """A tournament option the user set (file, flag or preset) that the chosen strategy does not
    take is a one-line ConfigError naming it, the strategy and the options it takes; a default
    it does not use is fine. A stored run's config.yaml (every key written) is not checked."""
    tournament = cfg.tournament
    keys = TournamentConfig.strategy_options
    takes = set(option_names(STRATEGIES.validate(tournament.strategy)))
    for key in keys:
        if key in tournament.model_fields_set and key not in takes:
            valid = ", ".join(k for k in keys if k in takes) or "none"
            raise ConfigError(f"{source}: tournament.{key}: strategy '{tournament.strategy}' does not"
                              f" take this option; its options: {valid}")


def experiment_file(path: Path) -> Path:
    """The experiment YAML: the user's file when it exists, else the packaged template."""
    return resolve_resource(str(path), what="experiment file")


def resolve_files(cfg: ExperimentConfig, base: Path | None) -> ExperimentConfig:
    """Make the files the run reads absolute and check them now, before anything is written: Ray
    trials run in other working directories, so a relative path would not be found there. Each
    is the user's file when it exists (the DeepSpeed config: next to the experiment file, then
    the working directory), else the copy shipped in the package (`hpo.config.schema.resolve_resource`)."""
    _resolve_data(cfg)
    _resolve_judge(cfg)
    if not cfg.train.deepspeed:
        return cfg
    found = resolve_resource(cfg.train.deepspeed, base, what="train.deepspeed: config")
    if not found.is_file():
        raise ConfigError(f"train.deepspeed: not a file: {found}")
    cfg.train.deepspeed = str(found.resolve())
    resolve_config(cfg.train.deepspeed, cfg)  # valid JSON, "auto" values consistent
    return cfg


def _resolve_data(cfg: ExperimentConfig) -> None:
    """Data files found (working directory, then the package) become absolute; a missing one is
    left as given, for the loader's error or the dry run's list of what the run needs."""
    for split in ("train", "validation"):
        source = getattr(cfg.data, split)
        if source == "synthetic" or source.startswith("hf:"):
            continue
        found = find_resource(source)
        if found is not None and found.is_file():
            setattr(cfg.data, split, str(found.resolve()))


def _resolve_judge(cfg: ExperimentConfig) -> None:
    """The in-process (`hf`) judge's folder: the user's, else a packaged judge of that name
    (`judges/tiny-suite-judge`); a hub id or model alias is left for the backend to resolve.
    A served (`vllm`) judge's model is the server's name for it, so it stays as given."""
    model = cfg.judge.option("model")
    if cfg.judge.backend != "hf" or not model:
        return
    found = find_resource(model)
    if found is not None:
        cfg.judge = cfg.judge.with_options(model=str(found.resolve()))
