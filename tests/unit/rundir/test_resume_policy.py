"""`--resume RUN` with flags: result-changing ones refused, operational ones applied and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hpo.config.schema import ExperimentConfig, JudgeConfig
from hpo.config.secrets import MASK
from hpo.errors import ConfigError
from hpo.rundir.layout import RunDir
from hpo.rundir.resume import record, resume_config


def make_run(tmp_path: Path, url: str = "http://127.0.0.1:8000") -> RunDir:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    cfg.judge = JudgeConfig(backend="vllm", model="pandalm", url=url)
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
    assert (cfg.judge.option("url"), cfg.judge.option("concurrency"), cfg.judge.option("timeout_s")) == ("http://10.0.0.9:9000", 4, 5.0)
    rd.update_state(parent_run_id="old", child_runs={"t": "old-child"})
    changes = record(rd, cfg)
    assert set(changes) == {"judge.url", "judge.concurrency", "judge.timeout_s", "tracking.uri"}
    assert yaml.safe_load((rd / "config.yaml").read_text())["judge"]["url"] == "http://10.0.0.9:9000"
    state = json.loads((rd / "state.json").read_text())
    entry = state["history"][-1]
    assert entry["event"] == "resume-flags"
    assert entry["changed"]["judge.url"] == ["http://127.0.0.1:8000", "http://10.0.0.9:9000"]
    assert state["parent_run_id"] is None and state["child_runs"] == {}  # new store, new runs
    assert rd.config().judge.option("url") == "http://10.0.0.9:9000"  # the next resume keeps it


def test_a_redacted_secret_must_be_given_again(tmp_path: Path) -> None:
    rd = make_run(tmp_path, "http://judge:pw-42@10.0.0.5:8000")
    assert rd.config().judge.option("url") == f"http://judge:{MASK}@10.0.0.5:8000"
    with pytest.raises(ConfigError, match="judge.url held a secret.*--judge-url"):
        resume_config(rd, {})
    cfg = resume_config(rd, {"judge.url": "http://judge:pw-42@10.0.0.5:8000"})
    assert cfg.judge.option("url") == "http://judge:pw-42@10.0.0.5:8000"
    record(rd, cfg)
    assert "pw-42" not in (rd / "config.yaml").read_text() + (rd / "state.json").read_text()


def test_a_run_whose_paths_look_like_tokens_resumes_unchanged(tmp_path: Path) -> None:
    cfg = ExperimentConfig(run_root=str(tmp_path / "hf_runs" / "sk-team" / "token"))
    cfg.data.train, cfg.search.space = "/data/hf_datasets/train.json", "/spaces/sk-abcdefghijklmnop/grid.yaml"
    cfg.model.name = "/models/hf_checkpoints/llama"
    rd = RunDir.create(cfg, "r")
    assert yaml.safe_load((rd / "config.yaml").read_text())["data"]["train"] == "/data/hf_datasets/train.json"
    resumed = resume_config(rd, {})
    assert (resumed.data.train, resumed.search.space, resumed.model.name) == (
        cfg.data.train, cfg.search.space, cfg.model.name)


def test_a_list_url_secret_must_be_given_again(tmp_path: Path) -> None:
    urls = ["http://judge:pw-7@10.0.0.5:8000", "http://judge:pw-7@10.0.0.6:8000"]
    rd = make_run(tmp_path)
    cfg = resume_config(rd, {"judge.url": urls})
    record(rd, cfg)
    assert "pw-7" not in (rd / "config.yaml").read_text() + (rd / "state.json").read_text()
    with pytest.raises(ConfigError, match="judge.url held a secret.*--judge-url"):
        resume_config(rd, {})
    assert resume_config(rd, {"judge.url": urls}).judge.option("url") == urls


def test_a_secret_given_again_is_not_a_change(tmp_path: Path) -> None:
    """A result-changing key that held a secret (here a tracking URI standing in for any key) is
    accepted again when it is the same value once the secret is masked."""
    rd = make_run(tmp_path)
    cfg = resume_config(rd, {"tracking.uri": "postgresql://hpo:p@ss/w@db:5432/m"})
    record(rd, cfg)
    assert "p@ss/w" not in (rd / "config.yaml").read_text()
    from hpo.rundir.resume import changed_keys
    assert changed_keys(rd.config(), resume_config(rd, {"tracking.uri": "postgresql://hpo:p@ss/w@db:5432/m"})) == {}
