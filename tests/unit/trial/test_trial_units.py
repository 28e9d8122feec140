"""Trial building blocks: encoding, bucketing, optimizer/schedule, state, faults, DeepSpeed config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hpo.config.schema import ExperimentConfig, TrainConfig
from hpo.errors import ConfigError, MissingDependencyError
from hpo.trial import state
from hpo.trial.generate import IGNORE, Encoded, batch_order, collate
from hpo.trial.optim import make_lr_schedule, make_optimizer, warmup_steps
from hpo.types import TrainingSpec

ROOT = Path(__file__).resolve().parents[3]


def _padding(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_batch_order_covers_all_is_seeded_and_bucketing_cuts_padding() -> None:
    lengths = [(i * 37) % 29 + 10 for i in range(1000)]
    bucketed = batch_order(lengths, 16, seed=1)
    assert sorted(i for b in bucketed for i in b) == list(range(1000))
    assert bucketed == batch_order(lengths, 16, seed=1) != batch_order(lengths, 16, seed=2)
    naive = batch_order(lengths, 16, seed=1, bucket=False)
    assert _padding(bucketed, lengths) < _padding(naive, lengths) / 5


def test_collate_masks_prompt_and_padding() -> None:
    batch = collate([Encoded([5, 6, 7, 8], 2), Encoded([9, 10, 11], 1)], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [9, 10, 11, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 7, 8], [IGNORE, 10, 11, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_encode_truncates_prompt_first_and_keeps_eos() -> None:
    from hpo.trial.generate import encode
    from hpo.types import Example

    class Tok:
        eos_token_id = 1000

        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            return {"input_ids": [ord(c) for c in text]}

    enc = encode(Tok(), Example("x" * 50, "", "abc"), max_length=20)
    assert len(enc.ids) == 20 and enc.ids[-4:] == [97, 98, 99, 1000] and enc.n_prompt == 16


@pytest.mark.parametrize("name,total,expected", [("adamw", 100, 3), ("sgd", 10, 1)])
def test_optimizers_and_warmup(name: str, total: int, expected: int) -> None:
    spec = TrainingSpec(name, 0.5, "cosine", 5, warmup_ratio=0.03)
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer(spec, model.parameters(), TrainConfig())
    assert type(opt).__name__ == {"adamw": "AdamW", "sgd": "SGD"}[name]
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.9
    assert warmup_steps(spec, total) == expected


def test_adamw_is_fused_for_cuda_parameters_only() -> None:
    """CUDA: fused AdamW (no foreach temporary of the moments' size); CPU: torch's default.
    The device is the one the parameters will train on (DeepSpeed moves them after the optimizer
    is built); CUDA is only named here, nothing runs on it."""
    spec = TrainingSpec("adamw", 1e-3, "cosine", 1)
    cpu = make_optimizer(spec, torch.nn.Linear(2, 2).parameters(), TrainConfig())
    cuda = make_optimizer(spec, torch.nn.Linear(2, 2).parameters(), TrainConfig(), torch.device("cuda", 0))
    assert not cpu.param_groups[0]["fused"] and cuda.param_groups[0]["fused"] is True
    sgd = make_optimizer(TrainingSpec("sgd", 1e-3, "cosine", 1), torch.nn.Linear(2, 2).parameters(),
                         TrainConfig(), torch.device("cuda", 0))
    assert type(sgd).__name__ == "SGD"


@pytest.mark.parametrize("scheduler,mid_lr", [("cosine", 0.5), ("linear", 0.5), ("constant", 1.0)])
def test_schedules_warm_up_then_follow_their_shape(scheduler: str, mid_lr: float) -> None:
    spec = TrainingSpec("adamw", 1.0, scheduler, 1, warmup_ratio=0.1)
    opt = make_optimizer(spec, torch.nn.Linear(1, 1).parameters(), TrainConfig())
    sched = make_lr_schedule(spec, opt, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(1.0)
    assert lrs[11] == pytest.approx(mid_lr, abs=0.05)


def test_state_roundtrip_is_atomic_and_cleared(tmp_path: Path) -> None:
    spec = TrainingSpec("adamw", 1e-2, "linear", 2)
    model = torch.nn.Linear(3, 1)
    opt = make_optimizer(spec, model.parameters(), TrainConfig())
    sched = make_lr_schedule(spec, opt, 10)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    state.save_state(tmp_path, model, opt, sched, epoch=1)
    state.save_state(tmp_path, model, opt, sched, epoch=2)  # replaces the previous state
    assert state.stored_epoch(tmp_path) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    fresh = torch.nn.Linear(3, 1)
    opt2 = make_optimizer(spec, fresh.parameters(), TrainConfig())
    sched2 = make_lr_schedule(spec, opt2, 10)
    assert state.load_state(tmp_path, fresh, opt2, sched2) == 2
    assert torch.equal(fresh.weight, model.weight) and sched2.get_last_lr() == sched.get_last_lr()
    state.clear_state(tmp_path)
    assert state.stored_epoch(tmp_path) == 0


def test_fault_injection_once_and_always(tmp_path: Path) -> None:
    assert not state.fault_due(None, tmp_path, "t", 1)
    assert not state.fault_due("t:2:once", tmp_path, "t", 1)
    assert state.fault_due("t:2:once", tmp_path, "t", 2)
    assert not state.fault_due("t:2:once", tmp_path, "t", 2)  # marker in run_dir/faults/
    assert (tmp_path / "faults").is_dir()
    assert state.fault_due("a-b:1:always", tmp_path, "a-b", 1) and state.fault_due("a-b:1:always", tmp_path, "a-b", 1)
    with pytest.raises(ConfigError, match="fault_injection"):
        state.fault_due("t:x:sometimes", tmp_path, "t", 1)


def test_deepspeed_config_resolves_auto_values(tmp_path: Path) -> None:
    from hpo.trial.deepspeed import resolve_config

    cfg = ExperimentConfig.model_validate({"train": {"batch_size": 8, "precision": "bf16-mixed"},
                                           "model": {"dtype": "bfloat16"}})
    ds = resolve_config(ROOT / "configs" / "deepspeed" / "zero2.json", cfg)
    assert ds["zero_optimization"]["stage"] == 2
    assert ds["train_micro_batch_size_per_gpu"] == 8 and ds["bf16"]["enabled"] is True
    assert "auto" not in json.dumps(ds)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        resolve_config(tmp_path / "bad.json", cfg)


def test_deepspeed_missing_is_a_dependency_error() -> None:
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        from hpo.trial.deepspeed import _import

        with pytest.raises(MissingDependencyError, match=r"hpo\[deepspeed\]"):
            _import()
    else:
        pytest.skip("deepspeed is installed; the integration test covers it")
