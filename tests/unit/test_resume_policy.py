"""`--resume RUN` with flags: result-changing ones refused, operational ones applied and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hpo.config import ExperimentConfig
from hpo.errors import ConfigError
from hpo.resume_policy import record, resume_config
from hpo.rundir import RunDir
from hpo.secrets import MASK


def make_run(tmp_path: Path, url: str = "http://127.0.0.1:8000") -> RunDir:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    cfg.judge.backend, cfg.judge.model, cfg.judge.url = "vllm", "pandalm", url
    return RunDir.create(cfg, "r")


@pytest.mark.parametrize(("overrides", "flag"), [
    ({"model.name": "smollm2-135m"}, "--model"),
    ({"search.space": "search_spaces/other.yaml"}, "--space"),
    ({"data.train": "my.jsonl"}, "--data"),
    ({"judge.model": "other-judge"}, "--judge-model"),
    ({"judge.policy": "lenient"}, "--set judge.policy"),
    ({"tournament.strategy": "knockout"}, "--strategy"),
    ({"train.batch_size": 2}, "--set train.batch_size"),
])
def test_result_changing_flag_is_refused(tmp_path: Path, overrides: dict, flag: str) -> None:
    rd = make_run(tmp_path)
    before = (rd / "config.yaml").read_text(), (rd / "state.json").read_text()
    with pytest.raises(ConfigError) as exc:
        resume_config(rd, overrides)
    assert str(exc.value).startswith(f"--resume: {flag} changes the run's results")
    assert ((rd / "config.yaml").read_text(), (rd / "state.json").read_text()) == before


def test_same_value_and_run_root_are_not_changes(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    cfg = resume_config(rd, {"model.name": "tiny", "run_root": "elsewhere", "judge.model": "pandalm"})
    assert cfg.run_root == str(tmp_path / "runs") and record(rd, cfg) == {}


def test_operational_flags_are_applied_and_recorded(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    cfg = resume_config(rd, {"judge.url": "http://10.0.0.9:9000", "judge.concurrency": "4",
                             "judge.timeout_s": 5, "tracking.uri": f"sqlite:///{tmp_path}/other.db"})
    assert (cfg.judge.url, cfg.judge.concurrency, cfg.judge.timeout_s) == ("http://10.0.0.9:9000", 4, 5.0)
    rd.update_state(parent_run_id="old", child_runs={"t": "old-child"})
    changes = record(rd, cfg)
    assert set(changes) == {"judge.url", "judge.concurrency", "judge.timeout_s", "tracking.uri"}
    assert yaml.safe_load((rd / "config.yaml").read_text())["judge"]["url"] == "http://10.0.0.9:9000"
    state = json.loads((rd / "state.json").read_text())
    entry = state["history"][-1]
    assert entry["event"] == "resume-flags"
    assert entry["changed"]["judge.url"] == ["http://127.0.0.1:8000", "http://10.0.0.9:9000"]
    assert state["parent_run_id"] is None and state["child_runs"] == {}  # new store, new runs
    assert rd.config().judge.url == "http://10.0.0.9:9000"  # the next resume keeps it


def test_a_redacted_secret_must_be_given_again(tmp_path: Path) -> None:
    rd = make_run(tmp_path, "http://judge:pw-42@10.0.0.5:8000")
    assert rd.config().judge.url == f"http://judge:{MASK}@10.0.0.5:8000"
    with pytest.raises(ConfigError, match="judge.url held a secret.*--judge-url"):
        resume_config(rd, {})
    cfg = resume_config(rd, {"judge.url": "http://judge:pw-42@10.0.0.5:8000"})
    assert cfg.judge.url == "http://judge:pw-42@10.0.0.5:8000"
    record(rd, cfg)
    assert "pw-42" not in (rd / "config.yaml").read_text() + (rd / "state.json").read_text()
