"""`hpo run` where every Tune trial is 2 Ray Train workers (gloo on CPU): ZeRO-2 and plain DDP.

One reduced grid (1 training x 2 epochs = 2 candidates, so the tournament still picks a winner),
run twice side by side in separate processes, each with its own local Ray:
  * ZeRO-2 (`train.deepspeed`): SIGKILLed while epoch 2 trains, then `--resume`d to a winner;
  * plain DDP (no `train.deepspeed`): uninterrupted.
Then a 1-worker reference with the same effective batch (1 x 16 vs 2 x 8) trains in-process on
a copy of the same staged data and base model. Checked:
  * sharding: each ZeRO-2 rank holds half the optimizer state (fp32 partition + 2 AdamW
    moments), while each DDP rank holds all of it;
  * loss parity: every step's loss of both 2-worker runs, the killed-and-resumed ZeRO-2 one
    included, matches the 1-worker run within LOSS_TOL;
  * resume: epoch 1 trained once, the interrupted epoch 2 redone, answers of each checkpoint
    written exactly once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.procs import HpoProcess, kill_group, kill_marked, start_hpo, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
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
    return [(r["event"], r["epoch"]) for r in rows]


def losses(run_dir: Path) -> list[float]:
    (path,) = (run_dir / "trials").glob("*/loss.jsonl")
    return [json.loads(ln)["loss"] for ln in path.read_text().splitlines() if ln.strip()]


def workers(run_dir: Path) -> dict[str, Any]:
    (path,) = (run_dir / "trials").glob("*/workers.json")
    return dict(json.loads(path.read_text()))


def training_epoch2(run_dir: Path) -> bool:
    """Epoch 2 has started and its losses are not yet logged: it is training right now."""
    ev = events(run_dir)
    return ("epoch_start", 2) in ev and not any(p.read_text().count('"epoch": 2') for p in
                                                (run_dir / "trials").glob("*/loss.jsonl"))


def one_worker_reference(src: Path, dst: Path) -> list[float]:
    """The same training on 1 worker x batch 16, in-process, from the same staged folders."""
    from hpo.answers import AnswerStore
    from hpo.experiment import load_experiment as load_config
    from hpo.trial import run_training

    for d in ("data", "base"):
        shutil.copytree(src / d, dst / d)
    cfg = load_config(src / "config.yaml", {"train.batch_size": 16, "train.deepspeed": None,
                                            "resources.workers_per_trial": 1})
    (cid,) = [c for c in AnswerStore(src).available() if c.endswith("-ep1")]
    spec = AnswerStore(src).read(cid).spec
    run_training(spec, [1, 2], dst, cfg, lambda row: None)
    return losses(dst)


def test_two_workers_zero2_killed_resumed_and_ddp_match_one_worker(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    logs = tmp_path / "logs"
    zero_dir, ddp_dir = tmp_path / "runs" / "zero2", tmp_path / "runs" / "ddp"
    ds = str(REPO / "configs" / "deepspeed" / "zero2.json")
    procs: list[HpoProcess] = []
    try:
        first = start_hpo(run_args(tmp_path, "zero2", "--set", f"train.deepspeed={ds}"), logs)
        ddp = start_hpo(run_args(tmp_path, "ddp"), logs)
        procs += [first, ddp]
        assert wait_for(lambda: training_epoch2(zero_dir), 400, first, poll=0.05), \
            first.output()[1][-3000:]
        kill_group(first)
        kill_marked(first.marker)
        assert training_epoch2(zero_dir), "epoch 2 finished before the kill landed"
        assert events(zero_dir).count(("answers", 1)) == 1 and ("answers", 2) not in events(zero_dir)

        second = start_hpo(["run", "--resume", str(zero_dir)], logs)
        procs.append(second)
        assert second.wait(400) == 0, second.output()[1][-3000:]
        assert ddp.wait(400) == 0, ddp.output()[1][-3000:]
    finally:
        for proc in procs:
            kill_group(proc)
            kill_marked(proc.marker)

    for run_dir in (zero_dir, ddp_dir):
        report = json.loads((run_dir / "report.json").read_text())
        assert report["winner"]["candidate_id"] and report["missing"] == {}
    # resume: epoch 1 trained once, the interrupted epoch 2 twice; each checkpoint answered once
    assert sorted(events(zero_dir)) == sorted([("epoch_start", 1), ("answers", 1),
                                               ("epoch_start", 2), ("epoch_start", 2), ("answers", 2)])
    assert len(list((zero_dir / "answers").glob("*.json"))) == 2

    zero, ddp_w = workers(zero_dir), workers(ddp_dir)
    assert zero["backend"] == "deepspeed-zero2" and ddp_w["backend"] == "ddp"
    assert zero["world_size"] == ddp_w["world_size"] == 2
    n = zero["trainable_parameters"]
    full = 3 * 4 * n  # fp32 master + exp_avg + exp_avg_sq, 4 bytes each
    for rank_bytes in zero["optimizer_state_bytes_per_rank"]:
        assert abs(rank_bytes - full / 2) <= 0.01 * full, zero
    assert all(b == 2 * 4 * n for b in ddp_w["optimizer_state_bytes_per_rank"]), ddp_w  # moments only

    ref = one_worker_reference(zero_dir, tmp_path / "one")
    for name, curve in (("zero2", losses(zero_dir)), ("ddp", losses(ddp_dir))):
        assert len(curve) == len(ref)
        worst = max(abs(a - b) for a, b in zip(curve, ref, strict=True))
        print(f"{name}: {len(curve)} steps, max |loss - 1-worker loss| = {worst:.2e}")
        assert worst <= LOSS_TOL, (name, worst)
    print(f"optimizer state bytes per rank: zero2 {zero['optimizer_state_bytes_per_rank']}, "
          f"ddp {ddp_w['optimizer_state_bytes_per_rank']}")
