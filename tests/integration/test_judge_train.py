"""`hpo judge train` end to end through the real CLI: synthetic pairs (tiny recipe), a slice of
PandaLM's test set in the released pair format (tiny recipe and the PandaLM recipe on a local
base model), then `hpo judge eval --pairs` on the held-out split it wrote. Accuracy is not the
point at these few steps; the format, the saved folder and the measured figures are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge import evaluate as judge_eval
from tests.conftest import SHARED, hpo_cli
from tests.helpers.tiny_llama import build_tiny_llama

pytestmark = pytest.mark.integration
TESTSET = SHARED / "testset-v1.json"


def _assert_judge_folder(out: Path, n_heldout: int) -> dict:
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    card = json.loads((out / "judge_card.json").read_text())
    held = card["heldout_eval"]
    assert held["n"] == n_heldout and 0 <= held["accuracy"] <= 1 and 0 <= held["invalid_rate"] <= 1
    assert held["swap_consistency"] is not None
    assert len((out / "heldout.jsonl").read_text().splitlines()) == n_heldout
    return card


def test_train_synthetic_then_eval_heldout(tmp_path: Path) -> None:
    out = tmp_path / "judge"
    proc = hpo_cli("judge", "train", "--synthetic", "--out", str(out), "--pairs", "300",
                   "--heldout-pairs", "30", "--max-steps", "30", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card = _assert_judge_folder(out, 30)
    assert card["recipe"] == "tiny" and card["swap_augmentation"] and card["train_pairs"] == 300
    assert card["train_examples"] == 600  # both orders
    assert "swap consistency" in proc.stdout
    ev = hpo_cli("judge", "eval", "--pairs", str(out / "heldout.jsonl"), "--backend", "hf",
                 "--model", str(out), timeout=300)
    assert ev.returncode == 0, ev.stderr[-2000:]
    line = next(ln for ln in ev.stdout.splitlines() if ln.startswith("accuracy "))
    assert float(line.split()[-1]) == pytest.approx(card["heldout_eval"]["accuracy"], abs=1e-4)
    # The curriculum's second phase: continue this judge on same-length near misses; the same
    # seed keeps the same held-out split, so the two cards compare like with like.
    more = tmp_path / "judge-near"
    proc = hpo_cli("judge", "train", "--synthetic", "--recipe", "pandalm", "--model", str(out),
                   "--near-miss-share", "0.7", "--out", str(more), "--pairs", "300", "--heldout-pairs",
                   "30", "--max-steps", "3", "--lr", "3e-4", "--max-length", "128", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card2 = _assert_judge_folder(more, 30)
    assert card2["base_model"] == str(out) and card2["source"]["near_miss_share"] == 0.7
    assert card["built_on"] == [] and card2["built_on"] == [card["command"]]
    assert (more / "heldout.jsonl").read_bytes() == (out / "heldout.jsonl").read_bytes()


@pytest.fixture
def pandalm_slice(tmp_path: Path) -> Path:
    if not TESTSET.is_file():
        pytest.skip(f"PandaLM test set not found: {TESTSET}")
    items = judge_eval.load_testset(TESTSET)[:60]
    records = [{"instruction": t["instruction"], "input": t["input"], "response1": t["response1"],
                "response2": t["response2"], "label": label}
               for t, label in zip(items, judge_eval.testset_labels(items), strict=True)]
    path = tmp_path / "pandalm-slice.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_train_on_pandalm_format_slice_tiny_recipe(tmp_path: Path, pandalm_slice: Path) -> None:
    out = tmp_path / "judge"
    proc = hpo_cli("judge", "train", "--data", str(pandalm_slice), "--recipe", "tiny", "--out", str(out),
                   "--heldout-fraction", "0.2", "--max-steps", "4", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card = _assert_judge_folder(out, 12)
    assert card["train_pairs"] == 48 and card["source"]["data"] == str(pandalm_slice)


def test_train_on_pandalm_format_slice_pandalm_recipe(tmp_path: Path, pandalm_slice: Path) -> None:
    base = build_tiny_llama(tmp_path / "base")
    out = tmp_path / "judge"
    proc = hpo_cli("judge", "train", "--data", str(pandalm_slice), "--model", str(base), "--out", str(out),
                   "--heldout-fraction", "0.2", "--max-steps", "2", "--max-length", "512", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card = _assert_judge_folder(out, 12)
    assert card["recipe"] == "pandalm" and card["settings"]["lr"] == 2e-5
    assert card["settings"]["warmup_ratio"] == 0.03 and card["settings"]["epochs"] == 2.0


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "judge"
    proc = hpo_cli("judge", "train", "--data", str(tmp_path / "missing.json"), "--recipe", "tiny",
                   "--out", str(out), timeout=120)
    assert proc.returncode == 2 and "cannot read training pairs" in proc.stderr
    assert not out.exists()
