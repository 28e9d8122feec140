"""Each judge backend owns its settings: beside `backend`, only that backend's options load.

A flat judge section that took every backend's fields let `url` pass with `backend: hf` and
`device` with `vllm`, and ignored them. The layers still stack (defaults -> preset -> YAML ->
CLI): a layer that names another backend drops the options of the layers below that the new
backend does not take, and options given in that layer or above are checked against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpo.config.schema import ExperimentConfig, JudgeConfig, load_config
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment
from hpo.rundir.layout import RunDir


def _load(tmp_path: Path, judge: str) -> ExperimentConfig:
    path = tmp_path / "exp.yaml"
    path.write_text(f"judge: {judge}\n")
    return load_experiment(path)


@pytest.mark.parametrize(("judge", "key", "backend"), [
    ("{backend: hf, model: some/dir, url: 'http://127.0.0.1:9'}", "url", "hf"),
    ("{backend: vllm, model: m, device: cpu}", "device", "vllm"),
    ("{backend: reference, batch_size: 8}", "batch_size", "reference"),
    ("{model: m}", "model", "reference"),  # the default backend takes no model
])
def test_an_option_the_backend_does_not_take_fails_in_one_line(tmp_path: Path, judge: str, key: str,
                                                                backend: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, judge)
    msg = str(info.value)
    assert "\n" not in msg and f"'{key}'" in msg and f"'{backend}'" in msg, msg
    assert "valid:" in msg and "policy" in msg, msg  # the names it would take, shared ones too


def test_each_backend_takes_its_own_options(tmp_path: Path) -> None:
    hf = _load(tmp_path, "{backend: hf, model: some/dir, device: cpu, batch_size: 8, policy: soft}").judge
    assert (hf.settings.model_dump(), hf.policy) == (
        {"model": "some/dir", "mode": "verdict", "batch_size": 8, "device": "cpu", "dtype": "auto"}, "soft")
    vllm = _load(tmp_path, "{backend: vllm, model: m, url: 'http://h:1', concurrency: 2}").judge
    assert (vllm.settings.url, vllm.settings.concurrency, vllm.settings.deadline_s) == ("http://h:1", 2, 600)


def test_a_bad_value_names_the_key_as_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"judge\.concurrency: Input should be greater than 0"):
        _load(tmp_path, "{backend: vllm, model: m, concurrency: 0}")


def test_the_stored_layout_is_the_written_one_and_round_trips(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "{backend: vllm, model: m, url: 'http://h:1'}")
    dumped = cfg.model_dump(mode="json")["judge"]
    assert list(dumped)[:3] == ["backend", "model", "url"] and "settings" not in dumped
    assert "device" not in dumped and "tie_margin" not in dumped
    assert ExperimentConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_the_cli_backend_over_a_yaml_of_another_backend(tmp_path: Path) -> None:
    """`--judge reference` over a vllm experiment: its vllm options are dropped (the CLI layer
    chose another judge); `--judge hf` keeps the `model` both take and drops `url`."""
    yaml_file = tmp_path / "exp.yaml"
    yaml_file.write_text("judge: {backend: vllm, model: m, url: 'http://h:1', policy: lenient}\n")
    ref = load_experiment(yaml_file, {"judge.backend": "reference"}).judge
    assert (ref.backend, ref.policy, ref.settings.model_dump()) == ("reference", "lenient", {"tie_margin": 0.02})
    hf = load_experiment(yaml_file, {"judge.backend": "hf"}).judge
    assert (hf.backend, hf.settings.model) == ("hf", "m")
    with pytest.raises(ConfigError, match="'url' is not an option of judge backend 'reference'"):
        load_experiment(yaml_file, {"judge.backend": "reference", "judge.url": "http://h:2"})


def test_a_preset_of_another_backend_under_the_cli_backend() -> None:
    """`--model bloom-7b --judge reference`: the preset's vllm judge model is dropped, its
    `serve` (shared) kept, as before."""
    cfg = load_experiment(None, {"model.name": "bloom-7b", "judge.backend": "reference"})
    assert cfg.judge.backend == "reference" and cfg.judge.serve is not None
    assert "model" not in cfg.model_dump()["judge"]
    hf = load_experiment(None, {"model.name": "bloom-7b", "judge.backend": "hf"}).judge
    assert hf.settings.model == "WeOpenML/PandaLM-7B-v1"


@pytest.mark.parametrize("name", ["bloom-7b", "bloom-7b-sh", "tiny-cpu", "tiny-cpu-asha", "tiny-cpu-optuna",
                                  "tiny-cpu-sh", "tiny-cpu-vllm"])
def test_every_shipped_experiment_loads(name: str) -> None:
    cfg = load_experiment(Path(f"experiments/{name}.yaml"))
    assert cfg.judge.settings.model_dump().keys() <= cfg.model_dump()["judge"].keys()


def test_a_run_stored_before_backends_owned_their_options_still_opens(tmp_path: Path) -> None:
    """Its config.yaml holds every backend's options flat (the old schema's defaults): the
    ones its backend does not take are dropped on reading, the rest kept."""
    rd = RunDir.create(ExperimentConfig(run_root=str(tmp_path / "runs")), "old")
    old_judge = {"backend": "hf", "model": "/j", "url": "http://127.0.0.1:8000", "policy": "strict",
                 "mode": "verdict", "tie_band": 0.0, "concurrency": 16, "timeout_s": 60, "max_retries": 5,
                 "deadline_s": 600, "invalid_retries": 1, "api_key_env": "HPO_JUDGE_API_KEY",
                 "tie_margin": 0.02, "batch_size": 128, "device": "auto", "dtype": "auto", "serve": None}
    stored = yaml.safe_load((rd / "config.yaml").read_text())
    (rd / "config.yaml").write_text(yaml.safe_dump({**stored, "judge": old_judge}))
    judge = rd.config().judge
    assert (judge.backend, judge.option("model"), judge.option("batch_size"), judge.option("url")) == (
        "hf", "/j", 128, None)
    as_vllm = load_config(rd / "config.yaml", {"judge.backend": "vllm"}).judge  # build_verdict_table's --set
    assert (as_vllm.option("model"), as_vllm.option("batch_size")) == ("/j", None)


def test_resume_checks_judge_flags_against_the_stored_backend(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume RUN --judge-url URL` on a vllm run: the URL is that run's option (applied),
    not refused against the defaults' reference backend; on a reference run it is refused."""
    from hpo.cli import main

    root = tmp_path / "runs"
    RunDir.create(ExperimentConfig(run_root=str(root), judge=JudgeConfig(backend="vllm", model="m")), "v")
    RunDir.create(ExperimentConfig(run_root=str(root)), "ref")
    flags = ["--run-root", str(root), "--judge-url", "http://127.0.0.1:9", "--dry-run"]
    assert main(["run", "--resume", "v", *flags]) == 0, capsys.readouterr().err
    assert main(["run", "--resume", "ref", *flags]) == 2
    assert "'url' is not an option of judge backend 'reference'" in capsys.readouterr().err


def test_the_backend_changes_with_its_options_never_alone() -> None:
    judge = JudgeConfig(backend="vllm", model="m", url="http://h:1")
    as_hf = judge.with_options(backend="hf")  # as a layer naming another backend: `url` dropped
    assert (as_hf.backend, as_hf.option("model"), as_hf.option("url")) == ("hf", "m", None)
    with pytest.raises(ValueError, match="backend 'hf' takes HfSettings, not VllmSettings"):
        judge.backend = "hf"
