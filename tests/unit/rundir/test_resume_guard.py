"""What a resume refuses to trust: a live run folder (lock), a damaged state.json, an edited
config.yaml, a corrupt answers file; and what it must not refuse (a path made absolute)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from hpo.cli import main
from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment
from hpo.run.inputs import RunOptions, repair_answers, resume_target
from hpo.rundir.answers import AnswerStore
from hpo.rundir.layout import RunDir
from hpo.types import Example, TrainingSpec

REPO = Path(__file__).resolve().parents[3]


def make_run(tmp_path: Path) -> RunDir:
    return RunDir.create(ExperimentConfig(run_root=str(tmp_path / "runs")), "r")


def listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def test_a_held_run_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    rd = make_run(tmp_path)  # create() takes the lock for this process
    with pytest.raises(ConfigError) as exc:
        RunDir(rd.path).lock()  # a second open file description: what another process gets
    assert f"in use by process {os.getpid()}" in str(exc.value) and "\n" not in str(exc.value)
    rd.unlock()
    RunDir(rd.path).lock()  # free again once the holder lets go (or dies)


def test_a_truncated_state_json_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    rd.unlock()
    text = (rd / "state.json").read_text()
    (rd / "state.json").write_text(text[: len(text) // 2])
    before = listing(tmp_path)
    with pytest.raises(ConfigError, match=r"state\.json .*damaged"):
        resume_target(ExperimentConfig(run_root=str(tmp_path / "runs")), RunOptions(resume=str(rd.path)))
    assert listing(tmp_path) == before


def test_an_edited_config_yaml_is_refused_naming_the_key(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    rd.unlock()
    data = yaml.safe_load((rd / "config.yaml").read_text())
    data["train"]["batch_size"] = data["train"]["batch_size"] + 1
    (rd / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"train\.batch_size .*changed since the run started"):
        resume_target(ExperimentConfig(run_root=str(tmp_path / "runs")), RunOptions(resume=str(rd.path)))


def test_an_unedited_config_resumes(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    rd.unlock()
    cfg, resumed = resume_target(ExperimentConfig(run_root=str(tmp_path / "runs")),
                                 RunOptions(resume=str(rd.path)))
    assert resumed is not None and resumed.path == rd.path and cfg.name == rd.config().name


def test_resume_with_the_experiment_file_whose_paths_are_relative(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    exp = Path("experiments/bloom-7b.yaml")
    cfg = load_experiment(exp, {"run_root": str(tmp_path / "runs")})
    assert Path(cfg.train.deepspeed or "").is_absolute()  # stored absolute, the YAML's is relative
    RunDir.create(cfg, "r").unlock()
    code = main(["run", "-e", str(exp), "--run-root", str(tmp_path / "runs"), "--resume", "r", "--dry-run"])
    assert code == 0, capsys.readouterr().err


def write_answers(store: AnswerStore, spec: TrainingSpec, epoch: int, n: int) -> Path:
    examples = [Example(id=f"v{i}", instruction="say", input=str(i), output=str(i)) for i in range(n)]
    return store.write(spec, epoch, examples, [str(i) for i in range(n)], {"train_loss": 1.0})


@pytest.mark.parametrize("damage", ["truncated", "wrong format", "too few answers", "not an object",
                                    "nested too deeply"])
def test_a_corrupt_answers_file_is_set_aside_and_its_training_reset(tmp_path: Path, damage: str) -> None:
    store, spec = AnswerStore(tmp_path), TrainingSpec(lr=2e-5, optimizer="adamw", scheduler="cosine", epochs=2)
    good, bad = write_answers(store, spec, 1, 4), write_answers(store, spec, 2, 4)
    payload = json.loads(bad.read_text())
    bad.write_text({"truncated": bad.read_text()[:40],
                    "wrong format": json.dumps({**payload, "format": "other/v0"}),
                    "too few answers": json.dumps({**payload, "answers": payload["answers"][:2]}),
                    "not an object": "[1, 2]",
                    "nested too deeply": "[" * 200_000 + "]" * 200_000}[damage])
    trial = tmp_path / "trials" / spec.training_id
    trial.mkdir(parents=True)
    (trial / "done.json").write_text("{}")  # finished: its last state is gone, so it re-runs
    assert store.problem(spec.candidate_id(2), 4) and store.problem(spec.candidate_id(1), 4) is None
    said: list[str] = []
    repaired = repair_answers(tmp_path, store, [spec.candidate_id(1), spec.candidate_id(2)], 4, said.append)
    assert repaired == [spec.candidate_id(2)]
    assert not bad.exists() and bad.with_name(bad.name + ".corrupt").exists() and good.exists()
    assert not (trial / "done.json").exists()
    assert len(said) == 1 and spec.candidate_id(2) in said[0]
    assert store.read(spec.candidate_id(1)).answers == ["0", "1", "2", "3"]


def test_a_corrupt_answers_file_after_the_stored_state_keeps_the_state(tmp_path: Path) -> None:
    """Crashed between epoch 2's answers and done.json: state at epoch 1 re-trains only epoch 2."""
    store, spec = AnswerStore(tmp_path), TrainingSpec(lr=2e-5, optimizer="adamw", scheduler="cosine", epochs=2)
    write_answers(store, spec, 2, 4).write_text("{")
    state = tmp_path / "trials" / spec.training_id / "state"
    state.mkdir(parents=True)
    (state / "meta.json").write_text(json.dumps({"epoch": 1}))
    assert repair_answers(tmp_path, store, [spec.candidate_id(2)], 4, lambda s: None) == [spec.candidate_id(2)]
    assert (state / "meta.json").is_file()


def test_reading_a_damaged_answers_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """What the tournament thread gets if a file is damaged after the resume's check."""
    store, spec = AnswerStore(tmp_path), TrainingSpec(lr=2e-5, optimizer="adamw", scheduler="cosine", epochs=1)
    path = write_answers(store, spec, 1, 4)
    path.write_text(path.read_text()[:50])
    with pytest.raises(ConfigError) as exc:
        store.read(spec.candidate_id(1))
    assert str(path) in str(exc.value) and "hpo run --resume" in str(exc.value) and "\n" not in str(exc.value)
