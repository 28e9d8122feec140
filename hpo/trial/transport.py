"""Trials that need nothing from the driver's disk (docs/cluster.md).

With `run.transport: ray` (the default when `resources.address` joins a cluster) a trial may run
on a node that cannot see the run folder. Then:

  * inputs travel through Ray: the driver packs the staged data and the prepared base model
    (`pack_inputs`) and hands them to every trial via `tune.with_parameters` (one object in the
    object store); a hub model travels as its repo id and each node loads it from its own cache.
  * the trial trains in a node-local scratch folder laid out like a run folder (`unpack_inputs`),
    so `run_training` is unchanged; it survives a retry on the same node and is removed after.
  * outputs come back in the trial's reports: each checkpoint's report carries its answers file
    and the new per-step losses and events (`PayloadReport`), JSON-encoded under PAYLOAD_KEY.
  * the driver's `Receiver` pops that payload from the result, writes the answers file and logs
    into the real run folder, then passes the result on. Only the driver writes the run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.rundir.answers import AnswerStore
from hpo.types import TrainingSpec
from judge.atomic import atomic_write_json

PAYLOAD_KEY = "hpo_payload"
MAX_SHIPPED_BYTES = 4 << 30  # a local base folder above this must be a hub id or on every node
Report = Callable[[dict[str, Any]], None]


def cluster_address(cfg: ExperimentConfig) -> str | None:
    """The cluster to join: `resources.address`, else the one a Ray job runs in (RAY_ADDRESS,
    set by `ray job submit`), else None (start a local Ray)."""
    return cfg.resources.address or os.environ.get("RAY_ADDRESS") or None


def remote_trials(cfg: ExperimentConfig) -> bool:
    """Do trials get inputs and return outputs through Ray instead of the run folder?"""
    mode = cfg.run.transport
    return mode == "ray" or (mode == "auto" and cluster_address(cfg) is not None)


def storage(cfg: ExperimentConfig, run_dir: Path) -> tuple[str, str]:
    """(storage_path, experiment name) for Ray Tune: `run.storage` when set, else the run folder."""
    if cfg.run.storage:
        return cfg.run.storage, f"hpo-{Path(run_dir).name}"
    return str((Path(run_dir) / "ray").resolve()), "tune"


# -- driver: pack ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialInputs:
    """Everything a trial reads: files relative to a run folder, and how to find the base."""

    run_name: str
    files: dict[str, bytes]
    base: dict[str, Any]  # base.json as written by prepare_base


def pack_inputs(run_dir: Path) -> TrialInputs:
    """Read the staged data and base model of `run_dir` into one picklable object."""
    run_dir = Path(run_dir)
    base = json.loads((run_dir / "base" / "base.json").read_text())
    files = {f"data/{p.name}": p.read_bytes() for p in sorted((run_dir / "data").glob("*.jsonl"))}
    folder = _shipped_base_folder(run_dir, base)
    if folder is not None:
        files |= {f"base/{p.relative_to(folder)}": p.read_bytes()
                  for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "base.json"}
    return TrialInputs(run_key(run_dir), files, base)


def run_key(run_dir: Path) -> str:
    """The run's name on other nodes: its folder name plus a hash of its full driver path, so two
    runs with the same name under different roots never share a scratch folder."""
    import hashlib

    digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:8]
    return f"{Path(run_dir).name}-{digest}"


def _shipped_base_folder(run_dir: Path, base: dict[str, Any]) -> Path | None:
    """The folder whose files travel with the inputs: tiny's own, or a small local model."""
    if base["kind"] == "tiny":
        return run_dir / "base"
    if base["kind"] != "local":
        return None  # hub and smollm2: every node resolves them itself
    folder = Path(base["path"])
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    if size > MAX_SHIPPED_BYTES:
        raise ConfigError(f"local model {folder} is {size >> 20} MiB, too large to ship to trials; "
                          "use a hub id or put it at the same path on every node (run.transport: disk)")
    return folder


# -- trial: unpack -----------------------------------------------------------------------------
def scratch_dir(run_name: str, training_id: str) -> Path:
    """A node-local folder per training; stable so a retry on the same node resumes from it."""
    return Path(tempfile.gettempdir()) / "hpo-trials" / run_name / training_id


def unpack_inputs(inputs: TrialInputs, scratch: Path) -> Path:
    """Lay `inputs` out as a run folder under `scratch`. Shipped weights (tiny, a small local
    folder) sit in base/ itself; hub and smollm2 bases are found in this node's own cache by
    name when loaded (`hpo.models.load.base_source`)."""
    for rel, blob in inputs.files.items():
        target = scratch / rel
        if not target.is_file() or target.stat().st_size != len(blob):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
    base = dict(inputs.base)
    if base["kind"] in ("tiny", "local"):
        base["path"] = "."
    atomic_write_json(scratch / "base" / "base.json", base)
    return scratch


# -- trial: report -----------------------------------------------------------------------------
class PayloadReport:
    """Adds the checkpoint's answers file and the new log lines to each report of a trial."""

    def __init__(self, report: Report, run_dir: Path, spec: TrainingSpec) -> None:
        self._report, self._spec = report, spec
        self._store = AnswerStore(run_dir)
        self._logs = Path(run_dir) / "trials" / spec.training_id
        self._sent = {"loss.jsonl": 0, "events.jsonl": 0}

    def __call__(self, row: dict[str, Any]) -> None:
        cid = str(row["candidate_id"])
        payload = {"answers": json.loads(self._store.path(cid).read_text(encoding="utf-8")),
                   "logs": {name: self._new_lines(name) for name in self._sent}}
        self._report({**row, PAYLOAD_KEY: json.dumps(payload)})

    def _new_lines(self, name: str) -> list[str]:
        path = self._logs / name
        lines = path.read_text().splitlines() if path.is_file() else []
        new, self._sent[name] = lines[self._sent[name]:], len(lines)
        return [ln for ln in new if ln.strip()]

    def close(self) -> None:
        """Nothing is held back (the interface of a `wrap_report` wrapper)."""


def run_remote(config: dict[str, Any], inputs: TrialInputs, wrap_report: Any,
               trainable: Callable[[dict[str, Any], Any], None]) -> None:
    """Run `trainable` on a scratch copy of the inputs, reporting answers through Ray."""
    spec = TrainingSpec.from_dict(config["spec"])
    scratch = unpack_inputs(inputs, scratch_dir(inputs.run_name, spec.training_id))

    def wrap(report: Report, spec: TrainingSpec, run_dir: Path, cfg: ExperimentConfig) -> Any:
        inner = PayloadReport(report, run_dir, spec)
        outer = wrap_report(inner, spec, run_dir, cfg) if wrap_report else None
        return outer or inner

    trainable({**config, "run_dir": str(scratch)}, wrap)
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):  # the run's folder too, once its last training is done
        scratch.parent.rmdir()


# -- driver: receive ---------------------------------------------------------------------------
class Receiver:
    """Driver side: writes each result's payload into the run folder, then calls `on_result`."""

    def __init__(self, run_dir: Path, on_result: Callable[[str, dict[str, Any]], None]) -> None:
        self.run_dir, self.on_result = Path(run_dir), on_result
        self.store = AnswerStore(self.run_dir)

    def __call__(self, training_id: str, result: dict[str, Any]) -> None:
        raw = result.pop(PAYLOAD_KEY, None)
        if raw:
            self.receive(training_id, json.loads(raw))
        self.on_result(training_id, result)

    def receive(self, training_id: str, payload: dict[str, Any]) -> None:
        answers = payload["answers"]
        if not self.store.exists(answers["candidate_id"]):  # a stored answer file is final
            atomic_write_json(self.store.path(answers["candidate_id"]), answers)
        logs = self.run_dir / "trials" / training_id
        for name, lines in payload.get("logs", {}).items():
            _merge_epochs(logs / name, lines)


def _merge_epochs(path: Path, lines: list[str]) -> None:
    """Append log lines; a retried trial's epochs replace the lines of the same and later epochs."""
    if not lines:
        return
    old = [ln for ln in (path.read_text().splitlines() if path.is_file() else []) if ln.strip()]
    if path.name == "events.jsonl":  # an audit trail: every start counts, each line once
        seen = set(old)
        keep, lines = old, [ln for ln in lines if ln not in seen]
    else:
        first = min(json.loads(ln).get("epoch", 0) for ln in lines)
        keep = [ln for ln in old if json.loads(ln).get("epoch", 0) < first]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(ln + "\n" for ln in keep + lines))
