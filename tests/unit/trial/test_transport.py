"""Trial transport: inputs packed on the driver and unpacked on a node, answers and
logs carried back in reports and written by the driver only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.models.load import base_source, prepare_base
from hpo.rundir.answers import AnswerStore
from hpo.search.cluster import check_address, cluster_address, validate_cluster
from hpo.trial import transport
from hpo.types import Example, TrainingSpec

SPEC = TrainingSpec(optimizer="adamw", lr=1e-3, scheduler="cosine", epochs=2)


def _cfg(**sections: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate(sections)


def test_transport_mode_follows_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not transport.remote_trials(_cfg())
    assert transport.remote_trials(_cfg(resources={"address": "10.0.0.1:6379"}))
    assert not transport.remote_trials(_cfg(resources={"address": "h:6379"}, run={"transport": "disk"}))
    assert transport.remote_trials(_cfg(run={"transport": "ray"}))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # inside `ray job submit`
    assert cluster_address(_cfg()) == "10.0.0.1:6379" and transport.remote_trials(_cfg())


def test_storage_goes_to_ray_tune(tmp_path: Path) -> None:
    assert transport.storage(_cfg(), tmp_path / "r1") == (str((tmp_path / "r1" / "ray").resolve()), "tune")
    assert transport.storage(_cfg(run={"storage": "s3://bucket/hpo"}), tmp_path / "r1") == (
        "s3://bucket/hpo", "hpo-r1")


@pytest.mark.parametrize("address", ["ray://head:10001", "http://head:8265"])
def test_addresses_hpo_cannot_drive_are_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="ray job submit"):
        check_address(address)
    check_address("head:6379")


def test_adaptive_search_with_remote_trials_is_accepted() -> None:
    """Remote trials judge through an actor on the driver's node (hpo.search.adaptive.reporter), so
    adaptive search needs no shared run folder (and no verdict store on a shared filesystem)."""
    validate_cluster(_cfg(search={"scheduler": "asha"}, run={"transport": "ray"}))
    validate_cluster(_cfg(search={"search": "optuna"}, run={"transport": "ray"}))
    with pytest.raises(ConfigError, match="--set run.transport=disk"):  # still needs shared disk
        validate_cluster(_cfg(resources={"workers_per_trial": 2}, run={"transport": "ray"}))


def _staged_run(tmp_path: Path) -> Path:
    run = tmp_path / "driver" / "myrun"
    train = [Example(f"rev {w}", "", w[::-1], id=str(i)) for i, w in enumerate(["abc", "hello", "xyz"] * 5)]
    (run / "data").mkdir(parents=True)
    for name in ("train", "validation"):
        (run / "data" / f"{name}.jsonl").write_text("".join(json.dumps({"instruction": e.instruction,
                                                                        "output": e.output}) + "\n" for e in train))
    prepare_base(_cfg().model, train, run / "base", seed=0)
    return run


def test_pack_unpack_rebuilds_the_run_inputs_elsewhere(tmp_path: Path) -> None:
    run = _staged_run(tmp_path)
    inputs = transport.pack_inputs(run)
    assert inputs.run_name.startswith("myrun-") and "data/train.jsonl" in inputs.files
    assert any(k.startswith("base/") and k.endswith(".safetensors") for k in inputs.files)
    node = transport.unpack_inputs(inputs, tmp_path / "node" / "scratch")
    for rel, blob in inputs.files.items():
        assert (node / rel).read_bytes() == blob
    info, folder = base_source(node / "base")
    assert info["kind"] == "tiny" and folder == (node / "base").resolve()


def test_hub_base_travels_as_its_repo_id(tmp_path: Path) -> None:
    run = tmp_path / "r"
    (run / "data").mkdir(parents=True)
    (run / "base").mkdir()
    (run / "base" / "base.json").write_text(json.dumps(
        {"format": "hpo.base/v1", "kind": "hub", "name": "bloom-7b", "repo_id": "bigscience/bloom-7b1",
         "path": None}))
    inputs = transport.pack_inputs(run)
    assert not any(k.startswith("base/") for k in inputs.files)  # no weights shipped
    assert inputs.base["repo_id"] == "bigscience/bloom-7b1"


def _trial_writes_epoch(scratch: Path, epoch: int) -> dict[str, object]:
    """What run_training leaves in its run folder at a checkpoint epoch, and the row it reports."""
    AnswerStore(scratch).write(SPEC, epoch, [Example("i", "", "o", id="v0")], [f"out{epoch}"], {"m": 1.0})
    logs = scratch / "trials" / SPEC.training_id
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "loss.jsonl").open("a") as fh:
        fh.write(json.dumps({"epoch": epoch, "step": 1, "loss": 1.0 / epoch}) + "\n")
    with (logs / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"event": "epoch_start", "epoch": epoch, "time": epoch}) + "\n")
    return {"candidate_id": SPEC.candidate_id(epoch), "epoch": epoch, "training_id": SPEC.training_id}


def test_answers_and_logs_come_back_through_reports(tmp_path: Path) -> None:
    scratch, driver = tmp_path / "node", tmp_path / "driver"
    sent: list[dict[str, object]] = []
    received: list[tuple[str, dict[str, object]]] = []
    report = transport.PayloadReport(sent.append, scratch, SPEC)
    receiver = transport.Receiver(driver, lambda tid, r: received.append((tid, r)))
    for epoch in (1, 2):
        report(_trial_writes_epoch(scratch, epoch))
        receiver(SPEC.training_id, dict(sent[-1]))  # what Ray Tune hands the driver's callback
    assert all(transport.PAYLOAD_KEY not in r for _, r in received)  # popped before loggers see it
    assert AnswerStore(driver).read(SPEC.candidate_id(2)).answers == ["out2"]
    loss = (driver / "trials" / SPEC.training_id / "loss.jsonl").read_text().splitlines()
    assert [json.loads(ln)["epoch"] for ln in loss] == [1, 2]

    # a retry on the same node re-reports everything from the start: no duplicate lines, and
    # an answer file the driver already has is never replaced
    AnswerStore(scratch).write(SPEC, 1, [Example("i", "", "o", id="v0")], ["changed"], {})
    again = transport.PayloadReport(sent.append, scratch, SPEC)
    again({"candidate_id": SPEC.candidate_id(1), "epoch": 1, "training_id": SPEC.training_id})
    receiver(SPEC.training_id, dict(sent[-1]))
    assert AnswerStore(driver).read(SPEC.candidate_id(1)).answers == ["out1"]
    loss = (driver / "trials" / SPEC.training_id / "loss.jsonl").read_text().splitlines()
    assert [json.loads(ln)["epoch"] for ln in loss] == [1, 2]
    events = (driver / "trials" / SPEC.training_id / "events.jsonl").read_text().splitlines()
    assert len(events) == 2


def test_run_remote_trains_in_scratch_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _staged_run(tmp_path)
    monkeypatch.setattr(transport.tempfile, "gettempdir", lambda: str(tmp_path / "nodetmp"))
    seen: dict[str, object] = {}

    def fake_trainable(config: dict[str, object], wrap: object) -> None:
        seen["run_dir"] = Path(str(config["run_dir"]))
        seen["has_data"] = (Path(str(config["run_dir"])) / "data" / "train.jsonl").is_file()

    transport.run_remote({"spec": SPEC.to_dict(), "run_dir": str(run)}, transport.pack_inputs(run),
                         None, fake_trainable)
    key = transport.run_key(run)
    assert seen["run_dir"] == tmp_path / "nodetmp" / "hpo-trials" / key / SPEC.training_id
    assert seen["has_data"] and not Path(str(seen["run_dir"])).exists()
