"""A run folder's `data/` and `base/` as the stage-inputs stage writes them, for tests that
drive a trial directly (no Ray): the synthetic suite's splits and the config's base model."""

from __future__ import annotations

from pathlib import Path

from hpo.config.schema import ExperimentConfig
from hpo.data import load_examples, write_jsonl
from hpo.models import prepare_base


def stage_run_dir(cfg: ExperimentConfig, run_dir: Path) -> Path:
    """Write `run_dir/data/{train,validation}.jsonl` and `run_dir/base/`; returns `run_dir`."""
    train = load_examples("synthetic", cfg.data, "train")
    write_jsonl(train, run_dir / "data" / "train.jsonl")
    write_jsonl(load_examples("synthetic", cfg.data, "validation"), run_dir / "data" / "validation.jsonl")
    prepare_base(cfg.model, train, run_dir / "base", cfg.train.seed)
    return run_dir
