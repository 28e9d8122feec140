"""The run folder: where one `hpo run` keeps its config, data, answers, verdicts and state.

    runs/<run-id>/
      config.yaml        the resolved config, secrets redacted (what --resume reuses)
      state.json         status, MLflow run ids (atomic writes)
      data/              staged train/validation JSONL
      base/              the prepared base model (tiny: tokenizer + initial weights)
      answers/           hpo.answers/v1 files, one per candidate
      trials/            per-training resume state and losses
      verdicts.sqlite    every raw judgment (WAL)
      report.json        the decision and its evidence
      plots/             PNG figures
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from hpo.atomic import atomic_write_json, atomic_write_text, storage_error
from hpo.config import ExperimentConfig
from hpo.errors import ConfigError
from hpo.secrets import redact


def check_run_name(name: str | None) -> str | None:
    """A run name becomes a folder under the run root: no separators, no dot-names."""
    if name is not None and (not name or "/" in name or "\\" in name or name.startswith(".")):
        raise ConfigError(f"--run-name must be a plain folder name, got '{name}'")
    return name


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def create(cls, cfg: ExperimentConfig, run_name: str | None) -> RunDir:
        """Make a fresh run folder; refuses to reuse one (that is what --resume is for)."""
        name = check_run_name(run_name) or f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        root = Path(cfg.run_root)
        path = root / name
        if path.exists():
            raise ConfigError(f"run folder {path} already exists; use --resume {path} to continue it")
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise storage_error(path, exc) from None
        rd = cls(path)
        rd.inside(path / "config.yaml")
        # Secrets are redacted (hpo.secrets); a resume asks for them again (hpo.resume_policy).
        atomic_write_text(path / "config.yaml", yaml.safe_dump(redact(cfg.model_dump(mode="json")),
                                                               sort_keys=False))
        rd.save_state({"status": "created", "created": time.time()})
        return rd

    @classmethod
    def open(cls, target: str, run_root: str) -> RunDir:
        """Find an existing run by path or by name under the run root."""
        for cand in (Path(target), Path(run_root) / target):
            if (cand / "config.yaml").is_file() and (cand / "state.json").is_file():
                return cls(cand)
        raise ConfigError(f"no run to resume at '{target}' (looked for config.yaml in it and under {run_root}/)")

    def config(self) -> ExperimentConfig:
        from hpo.config import load_config

        return load_config(self.path / "config.yaml")

    def state(self) -> dict[str, Any]:
        path = self.path / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.path / "state.json", state)

    def update_state(self, **changes: Any) -> dict[str, Any]:
        state = {**self.state(), **changes}
        self.save_state(state)
        return state

    def inside(self, target: Path) -> Path:
        """Refuse to write outside the run folder (paths come from configs)."""
        resolved = target.resolve()
        if not resolved.is_relative_to(self.path.resolve()):
            raise ConfigError(f"refusing to write outside the run folder: {target}")
        return resolved
