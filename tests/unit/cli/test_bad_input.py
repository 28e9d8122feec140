"""Bad input is refused before anything is written: one line on stderr, exit code 2, no file.

One row per case, each run in-process through `hpo.cli.main(argv)` (the same code as the `hpo`
command, without a Python start-up per case); tests/integration/test_bad_input.py keeps a
subprocess row or two for the real entry point. Every row asserts the exit code, exactly one
stderr line (starting "hpo: error:"), the words that line must hold, and that nothing under
the test folder was created, changed or removed (so no run root, run folder or MLflow store).
"""

from __future__ import annotations

import json
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo.cli import main
from tests.conftest import SMALL_BASELINE, SMALL_GRID

GRID_LR = SMALL_GRID.replace("lr: [2.0e-6, 2.0e-5]", "lr: {lrs}")
ROW_OK = '{"instruction": "reverse abc", "input": "", "output": "cba"}'
ROW_NO_INSTRUCTION = '{"input": "x", "output": "y"}'
LATIN1 = "name: café\n".encode("latin-1")  # not UTF-8
DEEP_JSON = "[" * 200_000 + "]" * 200_000
DEEP_YAML = "train: " + "[" * 20_000 + "]" * 20_000 + "\n"
VOTES = {"annotator1": 1, "annotator2": 1, "annotator3": 2}
ITEM = {"idx": 0, "instruction": "i", "input": "", "response1": "a", "response2": "b", **VOTES}
STATE = json.dumps({"status": "created", "created": 0.0})

# id -> (files to write under tmp_path (str or bytes), argv, words the error line must hold).
# "{tmp}" in argv is replaced by tmp_path, "{port}" by a closed port. A `run` argv gets the
# small grid and run root of `run_args` in front of it.
Files = dict[str, str | bytes]
CASES: dict[str, tuple[Files, list[str], list[str]]] = {
    # -- config keys and values
    "unknown_yaml_key": ({"exp.yaml": "name: x\ntrian:\n  batch_size: 4\n"},
                         ["--experiment", "{tmp}/exp.yaml"], ["trian", "unknown key"]),
    "unknown_nested_key": ({"exp.yaml": "train:\n  batchsize: 4\n"},
                           ["--experiment", "{tmp}/exp.yaml"], ["train.batchsize", "unknown key"]),
    "wrong_type": ({}, ["--set", "train.batch_size=many"], ["train.batch_size"]),
    "invalid_yaml": ({"exp.yaml": "train: [1, 2\n"}, ["--experiment", "{tmp}/exp.yaml"],
                     ["invalid YAML"]),
    "bad_set_syntax": ({}, ["--set", "train.batch_size"], ["--set expects key=value"]),
    "fault_injection_syntax": ({}, ["--set", "train.fault_injection=nonsense"], ["fault_injection"]),
    "unknown_flag": ({}, ["--bogus-flag"], ["unrecognized arguments", "--bogus-flag"]),
    # -- files that are not UTF-8, or nested past the recursion limit
    "experiment_not_utf8": ({"exp.yaml": LATIN1}, ["--experiment", "{tmp}/exp.yaml"],
                            ["exp.yaml", "not UTF-8"]),
    "space_not_utf8": ({"grid.yaml": SMALL_GRID.encode() + b"# \xff\n"}, [], ["grid.yaml", "not UTF-8"]),
    "data_json_not_utf8": ({"d.json": b'[{"instruction": "caf\xe9", "output": "b"}]'},
                           ["--data", "{tmp}/d.json"], ["d.json", "not UTF-8"]),
    "data_jsonl_not_utf8": ({"d.jsonl": f"{ROW_OK}\n".encode() + b'{"instruction": "\xff"}\n'},
                            ["--data", "{tmp}/d.jsonl"], ["d.jsonl", "not UTF-8"]),
    "stored_config_not_utf8": ({"runs/r/config.yaml": LATIN1, "runs/r/state.json": STATE},
                               ["--resume", "{tmp}/runs/r"], ["config.yaml", "not UTF-8"]),
    "stored_state_nested_too_deep": ({"runs/r/config.yaml": "name: r\n", "runs/r/state.json": DEEP_JSON},
                                     ["--resume", "{tmp}/runs/r"], ["state.json", "damaged"]),
    "deepspeed_config_not_utf8": ({"ds.json": b'{"zero_optimization": "\xff"}'},
                                  ["--set", "train.deepspeed={tmp}/ds.json"], ["ds.json", "not UTF-8"]),
    "deepspeed_config_nested_too_deep": ({"ds.json": DEEP_JSON}, ["--set", "train.deepspeed={tmp}/ds.json"],
                                         ["ds.json", "nested too deeply"]),
    "experiment_nested_too_deep": ({"exp.yaml": DEEP_YAML}, ["--experiment", "{tmp}/exp.yaml"],
                                   ["exp.yaml", "nested too deeply"]),
    "data_json_nested_too_deep": ({"d.json": DEEP_JSON}, ["--data", "{tmp}/d.json"],
                                  ["d.json", "nested too deeply"]),
    "data_jsonl_nested_too_deep": ({"d.jsonl": f"{ROW_OK}\n{DEEP_JSON}\n"}, ["--data", "{tmp}/d.jsonl"],
                                   ["d.jsonl", "line 2", "nested too deeply"]),
    # -- NaN and infinity wherever a number is read
    "lr_multiplier_inf": ({}, ["--set", "train.lr_multiplier=.inf"], ["train.lr_multiplier", "finite"]),
    "lr_multiplier_nan": ({}, ["--set", "train.lr_multiplier=.nan"], ["train.lr_multiplier"]),
    "gpus_per_trial_inf": ({}, ["--gpus-per-trial", "inf"], ["resources.gpus_per_trial", "finite"]),
    "judge_timeout_inf": ({}, ["--judge", "vllm", "--set", "judge.timeout_s=.inf"], ["judge.timeout_s", "finite"]),
    "judge_deadline_inf": ({}, ["--judge", "vllm", "--set", "judge.deadline_s=.inf"],
                           ["judge.deadline_s", "finite"]),
    "gpu_memory_inf": ({}, ["--set", "resources.gpu_memory_gb=.inf"], ["resources.gpu_memory_gb"]),
    "grid_lr_nan": ({"grid.yaml": GRID_LR.format(lrs="[.nan, 2.0e-5]")}, [], ["grid.yaml", "grid.lr"]),
    "grid_lr_inf": ({"grid.yaml": GRID_LR.format(lrs="[.inf]")}, [], ["grid.yaml", "grid.lr"]),
    # -- the search space
    "negative_lr": ({"grid.yaml": GRID_LR.format(lrs="[-1.0e-5, 2.0e-5]")}, [], ["learning rates", "> 0"]),
    "zero_lr": ({"grid.yaml": GRID_LR.format(lrs="[0.0]")}, [], ["learning rates", "> 0"]),
    "empty_grid": ({"grid.yaml": GRID_LR.format(lrs="[]")}, [], ["grid.lr"]),
    "duplicate_candidates": ({"grid.yaml": GRID_LR.format(lrs="[2.0e-5, 2.0e-5]")}, [],
                             ["duplicate candidate ids", "adamw-lr1e-03-cosine-ep1"]),
    "checkpoint_out_of_range": ({"grid.yaml": SMALL_GRID.replace("[1, 2]", "[1, 7]")}, [],
                                ["checkpoints [7] outside 1..2"]),
    "unsafe_space_tag": ({"base.yaml": SMALL_BASELINE.replace("tag: baseline", "tag: ../x")}, [],
                         ["tag"]),
    # -- model, data, judge, strategy, tracking
    "unknown_model_alias": ({}, ["--model", "gpt-9"], ["unknown model 'gpt-9'", "bloom-7b", "tiny"]),
    "missing_data_file": ({}, ["--data", "{tmp}/nope.json"], ["data file not found", "nope.json"]),
    "malformed_json": ({"d.json": '[{"instruction": "a", "output": "b"},'},
                       ["--data", "{tmp}/d.json"], ["d.json", "invalid JSON at line 1"]),
    "malformed_jsonl_line": ({"d.jsonl": f"{ROW_OK}\n{ROW_OK}\n{{oops\n"},
                             ["--data", "{tmp}/d.jsonl"], ["d.jsonl", "line 3", "invalid JSON"]),
    "row_without_instruction": ({"d.jsonl": f"{ROW_OK}\n{ROW_NO_INSTRUCTION}\n"},
                                ["--data", "{tmp}/d.jsonl"], ["row 2", "'instruction'"]),
    "bad_rows_counted": ({"d.jsonl": "\n".join([ROW_OK, ROW_NO_INSTRUCTION, ROW_OK, '"text"', ROW_OK])},
                         ["--data", "{tmp}/d.jsonl"], ["row 2", "'instruction'", "2 of 5 rows are bad"]),
    "empty_validation_set": ({"v.json": "[]"}, ["--validation", "{tmp}/v.json"], ["v.json", "empty"]),
    "unknown_judge": ({}, ["--judge", "gpt5"], ["unknown judge backend 'gpt5'", "hf, reference, vllm"]),
    "unknown_strategy": ({}, ["--strategy", "swiss"],
                         ["unknown tournament strategy 'swiss'", "blocked", "round_robin"]),
    "judge_without_model": ({}, ["--judge", "vllm"], ["judge.model"]),
    "judge_option_of_another_backend": ({}, ["--judge", "hf", "--judge-model", "x", "--judge-url", "http://h:1"],
                                        ["'url' is not an option of judge backend 'hf'", "valid: model,"]),
    "unreachable_judge_url": ({}, ["--judge", "vllm", "--judge-model", "x",
                                   "--judge-url", "http://127.0.0.1:{port}"],
                              ["127.0.0.1:{port}", "unreachable"]),
    "judge_url_list_empty": ({}, ["--judge", "vllm", "--judge-model", "x", "--judge-url", " , ,"],
                             ["judge.url", "no URL"]),
    "bad_tracking_uri": ({}, ["--tracking-uri", "bogus-scheme://nowhere"], ["tracking URI"]),
    # -- run folders and names
    "resume_missing_run": ({}, ["--resume", "{tmp}/runs/never-ran"], ["no run to resume", "never-ran"]),
    "run_name_escapes": ({}, ["--run-name", "../x"], ["--run-name", "plain folder name"]),
    "run_name_nul": ({}, ["--run-name", "a\0b"], ["--run-name", "NUL"]),
    "run_root_nul": ({}, ["--run-root", "r\0oot"], ["run_root", "NUL"]),
    "resume_name_nul": ({}, ["--resume", "a\0b"], ["no run to resume"]),
    "run_name_too_long": ({}, ["--run-name", "x" * 300], ["--run-name", "too long"]),
    "experiment_name_nul": ({"exp.yaml": 'name: "a\\0b"\n'}, ["--experiment", "{tmp}/exp.yaml"],
                            ["name", "NUL"]),
    "experiment_name_too_long": ({"exp.yaml": f"name: {'n' * 300}\n"}, ["--experiment", "{tmp}/exp.yaml"],
                                 ["name", "too long"]),
    # -- --dry-run refuses what the real run refuses, and reads the data files it can
    "dry_run_run_name_nul": ({}, ["--dry-run", "--run-name", "a\0b"], ["--run-name", "NUL"]),
    "dry_run_malformed_data": ({"d.json": '[{"instruction": "a", "output": "b"},'},
                               ["--dry-run", "--data", "{tmp}/d.json"], ["d.json", "invalid JSON"]),
    "dry_run_bad_rows": ({"d.jsonl": f"{ROW_OK}\n{ROW_NO_INSTRUCTION}\n"},
                         ["--dry-run", "--data", "{tmp}/d.jsonl"], ["row 2", "'instruction'"]),
    "dry_run_lr_inf": ({}, ["--dry-run", "--set", "train.lr_multiplier=.inf"], ["train.lr_multiplier"]),
    # -- hpo report on a report.json it cannot use
    "report_truncated": ({"r/report.json": '{"winner": {"candidate_id": '}, ["report", "{tmp}/r"],
                         ["report.json", "invalid JSON"]),
    "report_not_object": ({"r/report.json": "[1, 2]"}, ["report", "{tmp}/r"],
                          ["report.json", "not a JSON object"]),
    "report_unexpected_format": ({"r/report.json": '{"format": "other"}'}, ["report", "{tmp}/r"],
                                 ["report.json", "winner"]),
    "report_not_utf8": ({"r/report.json": b'{"winner": "\xff"}'}, ["report", "{tmp}/r"],
                        ["report.json", "not UTF-8"]),
    # -- hpo judge eval
    "judge_eval_backend_without_model": ({"t.json": json.dumps([ITEM])},
                                         ["judge", "eval", "--testset", "{tmp}/t.json", "--backend", "hf"],
                                         ["'hf'", "model"]),
    "judge_eval_vote_not_label": ({"t.json": json.dumps([{**ITEM, "annotator2": "maybe"}])},
                                  ["judge", "eval", "--testset", "{tmp}/t.json", "--verdicts",
                                   "{tmp}/t.json"], ["annotator2", "maybe"]),
    "judge_eval_vote_nan": ({"t.json": json.dumps([{**ITEM, "annotator3": float("nan")}])},
                            ["judge", "eval", "--testset", "{tmp}/t.json", "--verdicts", "{tmp}/t.json"],
                            ["annotator3"]),
    "judge_eval_idx_not_integer": ({"t.json": json.dumps([ITEM]),
                                    "v.json": json.dumps([{"idx": [0], "pandalm_result": 1}])},
                                   ["judge", "eval", "--testset", "{tmp}/t.json", "--verdicts",
                                    "{tmp}/v.json"], ["idx", "integer"]),
    "judge_eval_tie_band_nan": ({"t.json": json.dumps([ITEM])},
                                ["judge", "eval", "--testset", "{tmp}/t.json", "--backend", "vllm",
                                 "--model", "x", "--url", "http://127.0.0.1:{port}", "--tie-band", "nan"],
                                ["tie_band", "nan"]),
    "serve_judge_wait_nan": ({}, ["serve-judge", "{tmp}", "--wait", "nan"], ["--wait", "nan"]),
    "serve_judge_gpus_inf": ({}, ["serve-judge", "{tmp}", "--ray", "--gpus", "inf"], ["--gpus", "inf"]),
    "serve_judge_memory_share_nan": ({}, ["serve-judge", "{tmp}", "--gpu-memory-utilization", "nan"],
                                     ["--gpu-memory-utilization", "nan"]),
    "judge_eval_url_list_empty": ({"t.json": json.dumps([ITEM])},
                                  ["judge", "eval", "--testset", "{tmp}/t.json", "--backend", "vllm",
                                   "--model", "x", "--url", ","], ["URL"]),
    "judge_eval_testset_nested_too_deep": ({"t.json": DEEP_JSON},
                                           ["judge", "eval", "--testset", "{tmp}/t.json", "--backend",
                                            "reference"], ["t.json", "nested too deeply"]),
}


def closed_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_args(tmp: Path) -> list[str]:
    return ["run", "--run-root", str(tmp / "runs"), "--space", str(tmp / "grid.yaml"),
            "--set", f"search.baseline={tmp / 'base.yaml'}", "--set", "data.synthetic.n_train=300",
            "--set", "data.synthetic.n_validation=24", "--set", "tournament.blocks=1"]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """`main` as a fresh process would run it: offline, no local Ray cluster to join, the
    working directory in tmp_path; its SIGTERM handler is put back afterwards. A case that is
    not refused fails at training (never trains) or after 60 s (never hangs)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("hpo.search.cluster.local_cluster", lambda: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hpo.run.pipeline.run_stages", got_past_staging)
    handler = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(60)  # a case that is not refused must fail, not hang the suite
    yield
    signal.alarm(0)
    signal.signal(signal.SIGTERM, handler)


def got_past_staging(*args: object) -> int:
    """Stands in for training and judging: a case that gets there was not refused."""
    raise AssertionError("the run was not refused: it got past planning and staging")


def too_slow(signum: int, frame: object) -> None:
    raise TimeoutError("not refused within 60 s")


def call(argv: list[str]) -> int:
    """`hpo.cli.main(argv)`; argparse's refusals end in SystemExit, read as its code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def write_files(tmp: Path, files: Files) -> None:
    (tmp / "grid.yaml").write_text(SMALL_GRID)
    (tmp / "base.yaml").write_text(SMALL_BASELINE)
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.usefixtures("in_process")
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused_before_writing(case: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    files, extra, needles = CASES[case]
    write_files(tmp_path, files)
    port = str(closed_port())
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{port}", port) for a in extra]
    argv = argv if argv[:1] in (["report"], ["judge"], ["serve-judge"]) else [*run_args(tmp_path), *argv]
    before = snapshot(tmp_path)
    rc = call(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"{case}: rc={rc}\n{err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("hpo: error:"), f"{case}: {err[-2000:]}"
    for needle in needles:
        assert needle.replace("{port}", port) in lines[0], f"{case}: {needle!r} not in {lines[0]!r}"
    assert snapshot(tmp_path) == before, f"{case}: the files under {tmp_path} changed"


def test_bad_input_table_covers_enough_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.usefixtures("in_process")
def test_bloom_fails_fast_with_a_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 7B hub model on an offline CPU machine: refused at once, with what to do instead."""
    write_files(tmp_path, {})
    rc = call([*run_args(tmp_path), "--model", "bloom-7b"])
    lines = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(lines) == 1 and "bloom" in lines[0], lines
    assert "tiny" in lines[0] or "HF_HUB_OFFLINE" in lines[0] or "download" in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("in_process")
def test_blocks_beyond_candidates_is_clamped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """More blocks than candidates is not an error: the blocked strategy clamps to N blocks."""
    write_files(tmp_path, {})
    rc = call([*run_args(tmp_path), "--set", "tournament.blocks=100", "--dry-run"])
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    assert "candidates       4" in out.out
    assert not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("in_process")
@pytest.mark.parametrize("strategy", ["blocked", "round_robin"])
def test_dry_run_prints_each_strategys_own_bound(tmp_path: Path, strategy: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run's judge-call bound is the strategy's own, plus the baseline match."""
    write_files(tmp_path, {})
    args = run_args(tmp_path)[:-2]  # without tournament.blocks: round_robin does not take it
    rc = call([*args, "--set", f"tournament.strategy={strategy}", "--dry-run"])
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    found = re.search(r"\((\d+) validation items per candidate\)", out.out)
    assert found, out.out
    items = int(found.group(1))
    matches = {"blocked": 3, "round_robin": 6}[strategy]  # 4 candidates
    assert f"at most {matches * items * 2 + items * 2} for '{strategy}'" in out.out
