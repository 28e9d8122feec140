"""Files the product needs ship inside the package (`hpo/assets/`) and are found from any folder;
a user's own file of the same name still wins."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest

from hpo.config.schema import resolve_resource
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment

ASSETS = Path(str(files("hpo") / "assets")).resolve()


def _packaged(path: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(ASSETS)


def test_packaged_copy_is_found_from_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("configs/deepspeed/zero2.json", "search_spaces/pandalm80.yaml",
                 "experiments/bloom-7b.yaml", "judges/tiny-suite-judge"):
        found = resolve_resource(name)
        assert _packaged(found) and found.exists(), found


def test_user_file_wins_over_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "search_spaces" / "pandalm80.yaml"
    mine.parent.mkdir()
    mine.write_text("kind: fixed\n")
    assert resolve_resource("search_spaces/pandalm80.yaml").resolve() == mine.resolve()
    beside = tmp_path / "exp" / "configs" / "deepspeed" / "zero2.json"  # next to the experiment file
    beside.parent.mkdir(parents=True)
    beside.write_text("{}")
    assert resolve_resource("configs/deepspeed/zero2.json", tmp_path / "exp").resolve() == beside.resolve()


def test_a_name_found_nowhere_is_one_line_naming_where_it_looked(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        resolve_resource("search_spaces/nosuch.yaml")
    msg = str(err.value)
    assert "\n" not in msg and "search_spaces/nosuch.yaml" in msg
    assert str(tmp_path) in msg and str(ASSETS) in msg
    with pytest.raises(ConfigError, match="not found"):
        resolve_resource(str(tmp_path / "absolute.yaml"))  # an absolute path is the user's: no fallback


def test_a_7b_preset_loads_from_an_empty_folder_with_packaged_files(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_experiment(None, {"model.name": "bloom-7b"})
    assert _packaged(cfg.train.deepspeed or "") and cfg.data.train == "hf:tatsu-lab/alpaca"
    assert _packaged(cfg.data.validation)
    rows = json.loads(Path(cfg.data.validation).read_text())
    assert len(rows) == 170 and all({"instruction", "input"} <= set(r) for r in rows)


def test_a_packaged_experiment_by_name_and_its_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_experiment(Path("experiments/tiny-cpu.yaml"))
    assert cfg.name == "tiny-cpu" and _packaged(cfg.judge.option("model") or "")
    assert (Path(cfg.judge.option("model") or "") / "judge_card.json").is_file()
    bloom = load_experiment(Path("experiments/bloom-7b.yaml"))
    assert _packaged(bloom.train.deepspeed or "")
    mine = tmp_path / "experiments" / "tiny-cpu.yaml"  # the user's copy of the same name wins
    mine.parent.mkdir()
    mine.write_text("name: mine\n")
    assert load_experiment(Path("experiments/tiny-cpu.yaml")).name == "mine"
