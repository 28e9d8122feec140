"""Ctrl-C during a run's stages: resumable, said in one line with the folder, exit 130 (the real
SIGINT through Ray is tests/integration/test_run_lock.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hpo import cli
from hpo.config.schema import ExperimentConfig
from hpo.errors import RunInterrupted
from hpo.run import pipeline
from hpo.run.inputs import RunOptions
from hpo.rundir.layout import RunDir


class Staged:
    def __init__(self, path: Path) -> None:
        self.rd, self.tracker = RunDir(path), None


def test_ctrl_c_during_the_stages_names_the_run_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(*args: Any) -> int:
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"  # Ray Tune must not take Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER", raising=False)
    monkeypatch.setattr(pipeline, "resume_target", lambda cfg, opts: (cfg, None))
    monkeypatch.setattr(pipeline, "plan_run", lambda cfg, dry_run: None)
    monkeypatch.setattr(pipeline, "stage_inputs", lambda cfg, inputs, opts, resumed: Staged(tmp_path / "r"))
    monkeypatch.setattr(pipeline, "run_stages", stop)
    with pytest.raises(RunInterrupted) as exc:
        pipeline.run(ExperimentConfig(run_root=str(tmp_path)), RunOptions())
    assert str(exc.value) == f"interrupted; resume with: hpo run --resume {tmp_path / 'r'}"


def test_the_cli_prints_one_line_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(cfg: ExperimentConfig, opts: RunOptions) -> int:
        raise RunInterrupted(tmp_path / "r")

    monkeypatch.setattr(pipeline, "run", interrupted)
    assert cli.main(["run", "--run-root", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err == f"hpo: interrupted; resume with: hpo run --resume {tmp_path / 'r'}\n"
