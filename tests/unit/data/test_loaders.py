"""Loaders: every source format, and a one-line ConfigError for every bad input."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from hpo.config.schema import DataConfig, SyntheticConfig
from hpo.data import format_prompt, load_examples, read_jsonl, write_jsonl
from hpo.errors import ConfigError
from hpo.types import Example

CFG = DataConfig()
PANDALM = Path("/work/shared/data/pandalm/testset-inference-v1.json")


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _one_line_error(source: str, split: str = "train") -> str:
    with pytest.raises(ConfigError) as info:
        load_examples(source, CFG, split)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return str(info.value)


def test_synthetic_source_and_limits() -> None:
    cfg = DataConfig(synthetic=SyntheticConfig(n_train=50, n_validation=10), max_validation_examples=4)
    assert len(load_examples("synthetic", cfg, "train")) == 50
    val = load_examples("synthetic", cfg, "validation")
    assert [e.id for e in val] == ["syn-v00000", "syn-v00001", "syn-v00002", "syn-v00003"]


def test_alpaca_json_with_stable_ids(tmp_path: Path) -> None:
    rows = [{"instruction": "Say hi.", "input": "", "output": "hi"},
            {"instruction": "Echo.", "input": "x", "output": "x", "id": "mine"}]
    src = _write(tmp_path, "a.json", json.dumps(rows))
    exs = load_examples(src, CFG, "train")
    assert [(e.id, e.input, e.output) for e in exs] == [("t00000", "", "hi"), ("mine", "x", "x")]
    assert load_examples(src, CFG, "train") == exs


def test_jsonl_and_roundtrip(tmp_path: Path) -> None:
    src = _write(tmp_path, "a.jsonl", '{"instruction": "A", "output": "a"}\n\n{"instruction": "B", "output": "b"}\n')
    exs = load_examples(src, CFG, "train")
    assert [e.instruction for e in exs] == ["A", "B"]
    staged = tmp_path / "run" / "data" / "train.jsonl"
    write_jsonl([Example("I", "in", "out", "x1", {"task": "add"})], staged)
    assert read_jsonl(staged) == [Example("I", "in", "out", "x1")]
    assert read_jsonl(staged)[0].meta == {"task": "add"}


def test_pandalm_style_validation_has_no_outputs(tmp_path: Path) -> None:
    rows = [{"motivation_app": "Gmail", "instruction": "Write an email.", "input": "to Bob"}]
    exs = load_examples(_write(tmp_path, "p.json", json.dumps(rows)), CFG, "validation")
    assert exs[0].output is None and exs[0].meta == {"motivation_app": "Gmail"}
    assert "row 1: training examples need a non-empty 'output'" in _one_line_error(
        _write(tmp_path, "p2.json", json.dumps(rows)), "train")


@pytest.mark.skipif(not PANDALM.is_file(), reason="shared PandaLM data not present")
def test_real_pandalm_validation_file_loads() -> None:
    exs = load_examples(str(PANDALM), CFG, "validation")
    assert len(exs) == 170 and all(e.output is None for e in exs)


@pytest.mark.parametrize("name,text,expected", [
    ("bad.json", '[{"instruction": "a",', r"bad.json: invalid JSON at line 1"),
    ("bad.jsonl", '{"instruction": "a", "output": "b"}\n{oops\n', r"bad.jsonl: line 2: invalid JSON"),
    ("noinst.json", '[{"instruction": "a", "output": "b"}, {"input": "x", "output": "y"}]',
     r"row 2: missing or empty 'instruction'"),
    ("emptyinst.jsonl", '{"instruction": "", "output": "b"}\n', r"row 1: missing or empty 'instruction'"),
    ("empty.json", "[]", r"empty dataset"),
    ("dict.json", '{"instruction": "a"}', r"expected a JSON list"),
    ("noout.json", '[{"instruction": "a"}]', r"row 1: training examples need a non-empty 'output'"),
    ("dupe.json", '[{"instruction": "a", "output": "b", "id": 1}, {"instruction": "c", "output": "d", "id": 1}]',
     r"duplicate example id '1'"),
])
def test_bad_inputs_are_one_line_config_errors(tmp_path: Path, name: str, text: str, expected: str) -> None:
    msg = _one_line_error(_write(tmp_path, name, text))
    assert re.search(expected, msg), msg


def test_missing_file_and_bad_hf_source(tmp_path: Path) -> None:
    assert "data file not found" in _one_line_error(str(tmp_path / "nope.json"))
    assert "expected hf:<dataset>" in _one_line_error("hf:")


def test_hf_unreachable_hub_fails_fast_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.data import loaders

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(loaders, "_hub_reachable", lambda timeout=3.0: False)
    assert "hub is unreachable; set HF_HUB_OFFLINE=1" in _one_line_error("hf:tatsu-lab/alpaca")


@pytest.mark.integration  # imports `datasets` (about 4 s)
def test_hf_offline_fails_fast() -> None:
    """In a fresh process, as a user runs it: huggingface_hub reads HF_HUB_OFFLINE at import."""
    import os
    import subprocess
    import sys

    code = ("from hpo.config.schema import DataConfig\nfrom hpo.data import load_examples\n"
            "from hpo.errors import ConfigError\ntry:\n"
            "    load_examples('hf:no-such-org/no-such-dataset-xyz', DataConfig(), 'train')\n"
            "except ConfigError as e:\n    print(e)\n")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "cannot load dataset" in proc.stdout, proc.stderr[-2000:]
    assert time.perf_counter() - t0 < 30


def test_prompt_template_with_and_without_input() -> None:
    with_input = format_prompt(Example("Reverse the string.", "abc"))
    assert with_input.endswith("### Input:\nabc\n\n### Response:\n") and "paired with an input" in with_input
    without = format_prompt(Example("Say hi."))
    assert "### Input" not in without and without.endswith("Say hi.\n\n### Response:\n")
