"""Secret redaction (hpo.config.secrets) and the one-line flag errors of the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpo.cli import main
from hpo.config.schema import ExperimentConfig, JudgeConfig, load_config, parse_override
from hpo.config.secrets import MASK, redact, redact_text, redact_url, redacted_paths
from hpo.errors import ConfigError
from hpo.rundir.layout import RunDir


@pytest.mark.parametrize(("url", "expected"), [
    ("http://user:pa55@judge.internal:8000", f"http://user:{MASK}@judge.internal:8000"),
    ("https://:tok@host/v1", f"https://:{MASK}@host/v1"),
    ("http://host:8000/v1?api_key=abc&x=1", f"http://host:8000/v1?api_key={MASK}&x=1"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_config_by_key_and_place() -> None:
    data = {"judge": {"url": "http://u:pw@h:1", "api_key_env": "HPO_JUDGE_API_KEY"},
            "train": {"max_new_tokens": 16}, "plugin": {"hub_token": "abc", "password": "p"},
            "note": "uses hf_abcdefghijklmnop today", "list": ["sk-abcdefghijklmn"]}
    out = redact(data)
    assert out["judge"] == {"url": f"http://u:{MASK}@h:1", "api_key_env": "HPO_JUDGE_API_KEY"}
    assert out["train"]["max_new_tokens"] == 16  # a count, not a secret
    assert out["plugin"] == {"hub_token": MASK, "password": MASK}
    assert out["note"] == data["note"] and out["list"] == data["list"]  # a look is not a secret
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
    cfg.judge = JudgeConfig(backend="vllm", model="m", url="http://judge:s3cr3t-pw@10.0.0.5:8000")
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


# --- only values known to be secret are masked; paths are never altered ---

PATHS = {"data": {"train": "/data/hf_datasets/train.json", "validation": "/data/sk-models/token/val.json"},
         "model": {"name": "/models/hf_checkpoints/sk-abcdefghijklmnop"},
         "search": {"space": "/spaces/token=2/hf_abcdefghijklmnopqrstuvwxyz.yaml"},
         "train": {"deepspeed": "/cfg/ghp_abcdefghijkl/zero2.json"}, "run": {"storage": "/nfs/sk-shared/ray"}}


def test_paths_are_never_masked() -> None:
    assert redact(PATHS) == PATHS
    assert redacted_paths(PATHS) == []


def test_list_urls_and_storage_query_secrets_are_masked() -> None:
    data = {"judge": {"url": ["http://u:pw-1@h1:8000", "http://h2:8000"]},
            "run": {"storage": "s3://bucket/x?region=eu&secret_key=S3CR3T&access_key=AK"}}
    out = redact(data)
    assert out["judge"]["url"] == [f"http://u:{MASK}@h1:8000", "http://h2:8000"]
    assert "S3CR3T" not in str(out) and "region=eu" in out["run"]["storage"]
    assert redacted_paths(data) == ["judge.url", "run.storage"]


@pytest.mark.parametrize("text", [
    "KeyError: 'winner'", "config: bogus_key: unknown key", "max_new_tokens=16 tokenizer: /m/tok",
    "data file not found: /data/hf_datasets/train.json", "--space /x/sk-abcdefghijklmnopqrstu9/grid.yaml",
    "api_key_env=HPO_JUDGE_API_KEY", "bypass=1 passed: 3", "judge at http://127.0.0.1:8000/v1 failed",
])
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(("text", "secret"), [
    ("Authorization: Bearer abcdef123456", "abcdef123456"),
    ('{"authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz"),
    ("headers sent: Bearer tok-9876543210", "tok-9876543210"),
    ("login pass=hunter2 ok", "hunter2"), ("pwd: hunter3", "hunter3"),
    ("connect http://u:p@ss/w0rd@db.internal:5432/x failed", "p@ss/w0rd"),
    ("GET https://ghtoken1234567@git.internal/repo", "ghtoken1234567"),
    ("s3://b/p?region=eu&secret_key=AbC123xyz", "AbC123xyz"),
    ("key pasted: sk-proj-AbCdEf0123456789xyzQ", "sk-proj-AbCdEf0123456789xyzQ"),
    ("hf token hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh used", "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"),
])
def test_redact_text_masks_credentials(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out and MASK in out, out
    assert secret.split("/")[-1] not in out and secret.split("@")[-1] not in out, out


def test_redact_url_password_with_at_and_slash() -> None:
    assert redact_url("postgresql://hpo:p@ss/w0rd@db:5432/mlflow") == f"postgresql://hpo:{MASK}@db:5432/mlflow"
    assert redact_url("https://TOKEN123456@host/v1") == f"https://{MASK}@host/v1"


def test_storage_uri_with_credentials_is_refused_without_echo() -> None:
    for uri in ("s3://bucket/x?secret_key=S3CR3T-zz", "s3://AKID:S3CR3T-zz@bucket/x"):
        with pytest.raises(ConfigError, match=r"run\.storage.*AWS_SECRET_ACCESS_KEY") as exc:
            load_config(None, {"run.storage": uri})
        assert "S3CR3T" not in str(exc.value)
    assert load_config(None, {"run.storage": "s3://bucket/x?region=eu"}).run.storage == "s3://bucket/x?region=eu"


def test_dry_run_needs_show_no_url_password() -> None:
    from hpo.trial.sizing import needs

    cfg = load_config(None, {"judge.backend": "vllm", "judge.model": "j",
                             "judge.url": "http://u:PlAnTeD-pw@h1:8000,http://u:PlAnTeD-pw@h2:8000"})
    text = "\n".join(needs(cfg, 8))
    assert "PlAnTeD-pw" not in text and "h1:8000" in text and "h2:8000" in text


def test_trials_get_live_credentials_out_of_band(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config a trial is handed (what Ray may store) is redacted; the trial's judge gets the
    live URL, which only the pickled trial function carries."""
    import hpo.trial.workers
    from hpo.search.tuner import TrialOptions, trial_function
    from hpo.types import TrainingSpec

    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    cfg.judge = JudgeConfig(backend="vllm", model="m", url=["http://u:live-pw@h1:8000", "http://h2:8000"])
    cfg.data.train = "/data/hf_datasets/train.json"
    spec = TrainingSpec(lr=1e-3, optimizer="adamw", scheduler="cosine", epochs=1)
    seen: dict[str, ExperimentConfig] = {}
    monkeypatch.setattr(hpo.trial.workers, "run_trial", lambda s, c, d, cfg, report: seen.update(train=cfg))

    class Wrapper:
        def __call__(self, report: object, spec: object, run_dir: object, cfg: ExperimentConfig) -> Wrapper:
            seen["judge"] = cfg
            return self

        def close(self) -> None:
            pass

    fn = trial_function(cfg, tmp_path, {spec.training_id: spec}, {}, TrialOptions(wrap_report=Wrapper()))
    fn({"spec_id": spec.training_id})
    assert seen["judge"].judge.option("url") == ["http://u:live-pw@h1:8000", "http://h2:8000"]
    assert "live-pw" not in str(seen["train"].model_dump()) and seen["train"].data.train == cfg.data.train


def test_split_credentials_for_clients_that_take_them_apart() -> None:
    from hpo.config.secrets import split_credentials

    assert split_credentials("http://hpo:p%40ss/w@127.0.0.1:5000") == ("http://127.0.0.1:5000", "hpo", "p@ss/w")
    assert split_credentials("http://127.0.0.1:5000") == ("http://127.0.0.1:5000", None, None)
