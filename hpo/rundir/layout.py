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
      .lock              flock'ed by the one process that runs the folder; holds its pid

One process runs a run folder at a time: `create` and `lock` take an exclusive `flock` on
`.lock` for the process's lifetime. The OS drops it when the process dies (even by SIGKILL),
so a crash never leaves a stale lock. state.json is then written by that process alone (its
driver thread: trials never write it), which makes `update_state`'s read-modify-write safe.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hpo.config.schema import NAME_MAX, ExperimentConfig, check_path_text
from hpo.config.secrets import redact
from hpo.errors import ConfigError
from judge.atomic import atomic_write_json, atomic_write_text, storage_error


def check_run_name(name: str | None) -> str | None:
    """A run name becomes a folder under the run root: no separators, no dot-names, no NUL
    byte, no more bytes than a folder name may have."""
    if name is not None and (not name or "/" in name or "\\" in name or name.startswith(".")):
        raise ConfigError(f"--run-name must be a plain folder name, got '{name}'")
    try:
        return check_path_text(name, max_bytes=NAME_MAX) if name is not None else None
    except ValueError as exc:
        raise ConfigError(f"--run-name {exc}") from None


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._unlock: weakref.finalize | None = None

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
        rd = cls(path).lock()
        rd.inside(path / "config.yaml")
        # Secrets are redacted (hpo.config.secrets); a resume asks for them again (hpo.rundir.resume).
        atomic_write_text(path / "config.yaml", yaml.safe_dump(redact(cfg.model_dump(mode="json")),
                                                               sort_keys=False))
        rd.save_state({"status": "created", "created": time.time(),
                       "config_digest": config_digest(cfg)})
        return rd

    @classmethod
    def open(cls, target: str, run_root: str) -> RunDir:
        """Find an existing run by path or by name under the run root."""
        for cand in (Path(target), Path(run_root) / target):
            if (cand / "config.yaml").is_file() and (cand / "state.json").is_file():
                cls(cand).check_state()
                return cls(cand)
        raise ConfigError(f"no run to resume at '{target}' (looked for config.yaml in it and under {run_root}/)")

    def config(self) -> ExperimentConfig:
        from hpo.config.schema import load_config

        return load_config(self.path / "config.yaml")

    def lock(self) -> RunDir:
        """Hold `<run>/.lock` exclusively until this process ends (or `unlock`); a folder
        another live process holds is refused with one line naming that process."""
        try:
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(self.path / ".lock", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(f"run folder {self.path} is in use by process {holder} (another hpo run);"
                              " wait for it to end, or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._unlock = weakref.finalize(self, os.close, fd)  # also when this object goes away
        return self

    def unlock(self) -> None:
        """Let go of the run folder (the OS does it anyway when the process ends)."""
        if self._unlock is not None:
            self._unlock()

    def check_state(self) -> None:
        """state.json must be a JSON object: checked before a resume writes anything."""
        path = self.path / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            why = "" if isinstance(state, dict) else "not a JSON object"
        except json.JSONDecodeError as exc:
            why = exc.msg
        except RecursionError:
            why = "nested too deeply"
        except (OSError, UnicodeDecodeError) as exc:
            why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc.strerror or "unreadable"
        if why:
            raise ConfigError(f"{path} is damaged ({why}); restore it from a backup, or start a new run"
                              " (this one cannot be resumed without it)")

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


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"judge": {"url": u}} -> {"judge.url": u}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_digest(cfg: ExperimentConfig) -> dict[str, str]:
    """Per dotted key, a short hash of the stored (redacted) value: state.json keeps it from the
    start, so a resume can tell which key of config.yaml was edited since (hpo.rundir.resume)."""
    return {k: value_digest(v) for k, v in flatten(redact(cfg.model_dump(mode="json"))).items()}


def value_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
