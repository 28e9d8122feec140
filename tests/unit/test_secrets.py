"""Secret redaction (hpo.secrets) and the one-line flag errors of the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpo.cli import main
from hpo.config import ExperimentConfig, load_config, parse_override
from hpo.errors import ConfigError
from hpo.rundir import RunDir
from hpo.secrets import MASK, redact, redact_text, redact_url, redacted_paths


@pytest.mark.parametrize(("url", "expected"), [
    ("http://user:pa55@judge.internal:8000", f"http://user:{MASK}@judge.internal:8000"),
    ("https://:tok@host/v1", f"https://:{MASK}@host/v1"),
    ("http://host:8000/v1?api_key=abc&x=1", f"http://host:8000/v1?api_key={MASK}&x=1"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_config_by_key_and_shape() -> None:
    data = {"judge": {"url": "http://u:pw@h:1", "api_key_env": "HPO_JUDGE_API_KEY"},
            "train": {"max_new_tokens": 16}, "plugin": {"hub_token": "abc", "password": "p"},
            "note": "uses hf_abcdefghijklmnop today", "list": ["sk-abcdefghijklmn"]}
    out = redact(data)
    assert out["judge"] == {"url": f"http://u:{MASK}@h:1", "api_key_env": "HPO_JUDGE_API_KEY"}
    assert out["train"]["max_new_tokens"] == 16  # a count, not a secret
    assert out["plugin"] == {"hub_token": MASK, "password": MASK}
    assert "hf_abc" not in out["note"] and out["list"] == [MASK]
    assert data["judge"]["url"] == "http://u:pw@h:1"  # a copy: the live config keeps its secret


def test_key_pasted_into_env_var_name_is_redacted() -> None:
    assert redact({"api_key_env": "sk-live-abcdefgh1234"})["api_key_env"] == MASK
    assert redacted_paths({"judge": {"api_key_env": "my key!", "url": "http://h"}}) == ["judge.api_key_env"]


def test_redact_text_for_logs() -> None:
    line = "connect http://bob:hunter2@h/x failed; password=hunter2 token: 'abc123' max_new_tokens=16"
    out = redact_text(line)
    assert "hunter2" not in out and "abc123" not in out
    assert "max_new_tokens=16" in out and "bob" in out
    assert redact_text("--set expects key=value, got 'x'") == "--set expects key=value, got 'x'"


def test_config_yaml_is_written_redacted(tmp_path: Path) -> None:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    cfg.judge.url = "http://judge:s3cr3t-pw@10.0.0.5:8000"
    rd = RunDir.create(cfg, "r")
    text = (rd / "config.yaml").read_text()
    assert "s3cr3t-pw" not in text
    assert yaml.safe_load(text)["judge"]["url"] == f"http://judge:{MASK}@10.0.0.5:8000"


def test_mlflow_params_and_tags_are_redacted(tmp_path: Path) -> None:
    from hpo.tracking.mlflow_tracker import MlflowTracker

    t = MlflowTracker(f"sqlite:///{tmp_path}/m.db", "x", tmp_path / "art")
    run = t.start_run("p", {"judge": {"url": "http://u:pw-123@h"}, "hub_token": "tok-999"},
                      {"note": "password=pw-123"})
    t.set_tags(run, {"hpo.api_token": "tok-999"})
    data = t.client.get_run(run).data
    assert "pw-123" not in str(data.params) + str(data.tags)
    assert "tok-999" not in str(data.params) + str(data.tags)
    assert t.client.get_experiment(t.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


@pytest.mark.parametrize("argv", [
    ["run", "--seed", "abc"], ["run", "--gpus-per-trial", "lots"], ["run", "--set", "train.batch_size=[1"],
    ["run", "--set", "=3"], ["run", "--no-such-flag"], ["report"],
])
def test_bad_flag_values_are_one_line_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main([*argv, *(["--run-root", str(tmp_path / "runs")] if argv[0] == "run" else [])]))
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hpo: error:"), err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_parse_override_bad_yaml_is_config_error() -> None:
    with pytest.raises(ConfigError, match="train.batch_size"):
        parse_override("train.batch_size=[1")
    assert load_config(None, {"train.seed": "7"}).train.seed == 7  # flags typed like YAML values
