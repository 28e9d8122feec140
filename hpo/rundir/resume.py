"""`hpo run --resume RUN` with other flags: which may change, which may not, and the record.

A resumed run must decide the same question it started on, so a flag that changes results
(model, grid/space, data, judge model, policy, strategy, anything not listed below) is refused
with one line naming the flag. Operational flags (where the judge is, how hard to push it,
where to track) are applied, written back to the run's config.yaml (redacted) and recorded in
state.json's `history`, so the next resume keeps them and a reader sees when they changed.
Secrets are never stored (hpo.config.secrets): a run started with one typed into a value needs it
again on resume, and the same value given again is not a change (whatever the key); one kept in
the environment, where each library looks for it, is simply read again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import yaml

from hpo.config.schema import ExperimentConfig
from hpo.config.secrets import MASK, contains_mask, redact
from hpo.errors import ConfigError
from hpo.rundir.layout import RunDir, flatten, value_digest
from judge.atomic import atomic_write_text

# Dotted config keys a resume may change: they steer how the run runs, not what it decides.
OPERATIONAL = frozenset({
    "judge.url", "judge.concurrency", "judge.timeout_s", "judge.max_retries", "judge.deadline_s",
    "judge.api_key_env", "judge.batch_size",
    "tracking.uri", "tracking.register_winner",
    "resources.address", "resources.cpus_per_trial", "resources.gpus_per_trial",
    "resources.max_failures", "search.max_concurrent", "train.threads_per_trial",
    "train.generation_batch_size", "train.keep_weights",
})
# Keys that only locate the run (`--run-root` finds it), never compared.
LOCATING = frozenset({"run_root"})
# dotted key -> the flag a user typed (for the one-line refusal).
FLAG_OF = {"model.name": "--model", "judge.backend": "--judge", "judge.model": "--judge-model",
           "judge.url": "--judge-url", "tournament.strategy": "--strategy", "data.train": "--data",
           "data.validation": "--validation", "tracking.uri": "--tracking-uri",
           "resources.address": "--address", "search.space": "--space", "train.seed": "--seed",
           "resources.gpus_per_trial": "--gpus-per-trial", "tracking.register_winner": "--register-winner"}


def flag_name(key: str) -> str:
    return FLAG_OF.get(key, f"--set {key}")


def changed_keys(stored: ExperimentConfig, merged: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose value differs between the run's config and the config with the flags."""
    old, new = flatten(stored.model_dump(mode="json")), flatten(merged.model_dump(mode="json"))
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and k not in LOCATING and not _secret_again(k, old.get(k), new.get(k))}


def _secret_again(key: str, old: Any, new: Any) -> bool:
    """The stored value lost a secret and the new one is the same once that secret is masked."""
    return contains_mask(old) and redact(new, key.rsplit(".", 1)[-1]) == old


def merge(stored: ExperimentConfig, overrides: Mapping[str, Any]) -> ExperimentConfig:
    """The stored config with the flags applied on top (flags validated like YAML values)."""
    from hpo.config.schema import load_config, set_dotted

    data = stored.model_dump(mode="json")
    for dotted, value in overrides.items():
        if dotted not in LOCATING:
            set_dotted(data, dotted, value)
    return load_config(None, flatten(data))


def check_allowed(changes: Mapping[str, tuple[Any, Any]]) -> None:
    for key in changes:
        if key not in OPERATIONAL:
            raise ConfigError(f"--resume: {flag_name(key)} changes the run's results; a resumed run keeps"
                              f" its {key} (start a new run to change it)")


def check_no_masked(cfg: ExperimentConfig) -> None:
    """A secret was redacted from config.yaml and not given again: say which flag brings it back."""
    for key, value in flatten(cfg.model_dump(mode="json")).items():
        if contains_mask(value):
            raise ConfigError(f"--resume: {key} held a secret, which runs never store; give it again"
                              f" with {flag_name(key)}")


def check_unedited(rd: RunDir, stored: ExperimentConfig) -> None:
    """config.yaml's result-changing keys still hold what the run started with (the digest in
    state.json): an edit would silently re-plan the run and re-make its base model."""
    digest = rd.state().get("config_digest")
    if not isinstance(digest, dict):
        return  # a run started before the digest was kept
    for key, value in flatten(redact(stored.model_dump(mode="json"))).items():
        if key in digest and key not in OPERATIONAL | LOCATING and digest[key] != value_digest(value):
            raise ConfigError(f"--resume: {key} in {rd / 'config.yaml'} was changed since the run started;"
                              " put its value back, or start a new run to change it")


def resume_config(rd: RunDir, overrides: Mapping[str, Any]) -> ExperimentConfig:
    """The config a resume runs with: stored + allowed flags; refuses result-changing ones."""
    stored = rd.config()
    check_unedited(rd, stored)
    merged = merge(stored, overrides)
    changes = changed_keys(stored, merged)
    check_allowed(changes)
    check_no_masked(merged)
    return merged


def record(rd: RunDir, cfg: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """config.yaml gets the new values (redacted); state.json's history says what and when.

    Called once the resumed run has passed validation, so a refused resume writes nothing.
    """
    stored = rd.config()
    stored_flat = flatten(redact(stored.model_dump(mode="json")))
    new_flat = flatten(redact(cfg.model_dump(mode="json")))
    changes = {k: v for k, v in changed_keys(stored, cfg).items() if stored_flat.get(k) != new_flat.get(k)
               or MASK in str(stored_flat.get(k))}
    if not changes:
        return {}
    atomic_write_text(rd / "config.yaml", yaml.safe_dump(redact(cfg.model_dump(mode="json")),
                                                         sort_keys=False))
    entry = {"time": time.time(), "event": "resume-flags",
             "changed": {k: redact([old, new], k) for k, (old, new) in changes.items()}}
    state = rd.state()
    extra: dict[str, Any] = {"history": [*state.get("history", []), entry]}
    if "tracking.uri" in changes:  # run ids of the old store mean nothing in the new one
        extra.update(parent_run_id=None, child_runs={})
    rd.update_state(**extra)
    return changes
