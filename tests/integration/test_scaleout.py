"""`hpo run` where every Tune trial is 2 Ray Train workers (gloo on CPU) with plain DDP.

One reduced grid (1 training x 2 epochs = 2 candidates, so the tournament still picks a winner),
trained by 2 DDP workers, uninterrupted. Then a 1-worker reference with the same effective batch
(1 x 16 vs 2 x 8) trains in-process on a copy of the same staged data and base model. Checked:
  * each DDP rank holds all of the optimizer state (both AdamW moments);
  * loss parity: every step's loss matches the 1-worker run within LOSS_TOL.
ZeRO-2 with 2 workers (sharded state, SIGKILL + `--resume`, SGD and AdamW, accumulation) is
tests/integration/test_zero2_joints.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.procs import kill_group, kill_marked, start_hpo

pytestmark = pytest.mark.integration

# fp32 on both sides; only the reduction order differs (measured max |delta| ~1e-6 over 38 steps)
LOSS_TOL = 1e-4
GRID = """\
kind: grid
epochs: 2
checkpoints: [1, 2]
warmup_ratio: 0.03
grid:
  lr: [2.0e-5]
  optimizer: [adamw]
  scheduler: [cosine]
"""


def run_args(tmp: Path, name: str, *extra: str) -> list[str]:
    return ["run", "--run-root", str(tmp / "runs"), "--space", str(tmp / "grid.yaml"),
            "--set", "search.baseline=", "--set", "data.synthetic.n_train=400",
            "--set", "data.synthetic.n_validation=16", "--set", "tournament.blocks=1",
            "--set", "tracking.backend=none", "--set", "resources.workers_per_trial=2",
            "--set", "search.max_concurrent=1", "--run-name", name, *extra]


def events(run_dir: Path) -> list[tuple[str, int]]:
    files = list((run_dir / "trials").glob("*/events.jsonl"))
    rows = [json.loads(ln) for f in files for ln in f.read_text().splitlines() if ln.strip()]
    return [(r["event"], r["epoch"]) for r in rows if r["event"] in ("epoch_start", "answers")]


def losses(run_dir: Path) -> list[float]:
    (path,) = (run_dir / "trials").glob("*/loss.jsonl")
    return [json.loads(ln)["loss"] for ln in path.read_text().splitlines() if ln.strip()]


def workers(run_dir: Path) -> dict[str, Any]:
    (path,) = (run_dir / "trials").glob("*/workers.json")
    return dict(json.loads(path.read_text()))


def one_worker_reference(src: Path, dst: Path) -> list[float]:
    """The same training on 1 worker x batch 16, in-process, from the same staged folders."""
    from hpo.run.experiment import load_experiment as load_config
    from hpo.rundir.answers import AnswerStore
    from hpo.trial import run_training

    for d in ("data", "base"):
        shutil.copytree(src / d, dst / d)
    cfg = load_config(src / "config.yaml", {"train.batch_size": 16, "train.deepspeed": None,
                                            "resources.workers_per_trial": 1})
    (cid,) = [c for c in AnswerStore(src).available() if c.endswith("-ep1")]
    spec = AnswerStore(src).read(cid).spec
    run_training(spec, [1, 2], dst, cfg, lambda row: None)
    return losses(dst)


def test_two_workers_ddp_match_one_worker(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    ddp_dir = tmp_path / "runs" / "ddp"
    ddp = start_hpo(run_args(tmp_path, "ddp"), tmp_path / "logs")
    try:
        assert ddp.wait(400) == 0, ddp.output()[1][-3000:]
    finally:
        kill_group(ddp)
        kill_marked(ddp.marker)

    report = json.loads((ddp_dir / "report.json").read_text())
    assert report["winner"]["candidate_id"] and report["missing"] == {}
    assert sorted(events(ddp_dir)) == sorted([("epoch_start", 1), ("answers", 1),
                                              ("epoch_start", 2), ("answers", 2)])
    ddp_w = workers(ddp_dir)
    assert ddp_w["backend"] == "ddp" and ddp_w["world_size"] == 2
    n = ddp_w["trainable_parameters"]
    assert all(b == 2 * 4 * n for b in ddp_w["optimizer_state_bytes_per_rank"]), ddp_w  # moments only

    ref = one_worker_reference(ddp_dir, tmp_path / "one")
    curve = losses(ddp_dir)
    assert len(curve) == len(ref)
    worst = max(abs(a - b) for a, b in zip(curve, ref, strict=True))
    print(f"ddp: {len(curve)} steps, max |loss - 1-worker loss| = {worst:.2e}")
    assert worst <= LOSS_TOL, worst
