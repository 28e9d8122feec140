"""`kind: optuna` spaces, searcher/scheduler factories, and Optuna proposals from the space."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.search.adaptive.searchers import (
    METRIC,
    MODE,
    SCHEDULERS,
    SEARCHERS,
    make_search_alg,
    make_trial_scheduler,
)
from hpo.search.adaptive.space import TRIAL_INDEX, load_adaptive_space

REPO = Path(__file__).resolve().parents[3]
SPACE = """\
kind: optuna
epochs: 3
checkpoints: [1, 3]
params:
  lr: {type: loguniform, low: 2.0e-6, high: 4.0e-4}
  optimizer: {type: choice, values: [sgd, adamw]}
  scheduler: {type: choice, values: [cosine, linear]}
  warmup_ratio: {type: uniform, low: 0.0, high: 0.1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_shipped_tiny_space_loads_with_lr_multiplier() -> None:
    space = load_adaptive_space(REPO / "search_spaces" / "tiny-optuna.yaml", lr_multiplier=50)
    assert space.trainings == [] and space.checkpoints == [1, 2, 3]
    lr = space.param_space()["lr"]
    assert (lr.lower, lr.upper) == pytest.approx((1e-4, 2e-2))


def test_spec_from_config_rounds_and_numbers(tmp_path: Path) -> None:
    space = load_adaptive_space(write(tmp_path, SPACE), lr_multiplier=50)
    config = {"lr": 0.001234567, "optimizer": "adamw", "scheduler": "cosine",
              "warmup_ratio": 0.04321, TRIAL_INDEX: 3}
    spec = space.spec_from_config(config)
    assert (spec.lr, spec.warmup_ratio, spec.epochs) == (0.00123, 0.04, 3)
    assert spec.training_id == "t03-adamw-lr0.00123-cosine"
    assert space.spec_from_config(dict(config)) == spec  # stable
    assert space.spec_from_config({**config, TRIAL_INDEX: 4}).training_id != spec.training_id
    space.add(spec)
    space.add(spec)
    assert [c.candidate_id for c in space.candidates()] == [spec.candidate_id(1), spec.candidate_id(3)]


@pytest.mark.parametrize(("change", "needle"), [
    ("  lr: {type: loguniform, low: 2.0e-6, high: 4.0e-4}", "params.lr"),
    ("  optimizer: {type: choice, values: [sgd, adamw]}", "params.optimizer"),
    ("epochs: 3", "unknown key"),
    ("kind: optuna", "kind: optuna"),
])
def test_invalid_space_is_one_line_config_error(tmp_path: Path, change: str, needle: str) -> None:
    bad = {
        "  lr: {type: loguniform, low: 2.0e-6, high: 4.0e-4}": "  lr: {type: loguniform, low: 1.0e-2, high: 1.0e-3}",
        "  optimizer: {type: choice, values: [sgd, adamw]}": "  optimizer: {type: choice, values: [lion]}",
        "epochs: 3": "epochs: 3\nlearning_rate: 1",
        "kind: optuna": "kind: grid",
    }[change]
    with pytest.raises(ConfigError) as info:
        load_adaptive_space(write(tmp_path, SPACE.replace(change, bad)))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unknown_searcher_or_scheduler_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="valid: grid, optuna"):
        SEARCHERS.validate("random")
    with pytest.raises(ConfigError, match="valid: asha, none"):
        SCHEDULERS.validate("pbt")


def test_scheduler_factory() -> None:
    assert make_trial_scheduler(ExperimentConfig(), max_t=3) is None
    cfg = ExperimentConfig.model_validate({"search": {"scheduler": "asha", "grace_period": 1,
                                                      "reduction_factor": 2}})
    asha = make_trial_scheduler(cfg, max_t=3)
    assert (asha.metric, asha._mode, asha._time_attr, asha._max_t) == (METRIC, MODE, "epoch", 3)


def test_optuna_proposes_configs_from_the_declared_space(tmp_path: Path) -> None:
    space = load_adaptive_space(write(tmp_path, SPACE), lr_multiplier=50)
    cfg = ExperimentConfig.model_validate({"search": {"search": "optuna", "num_samples": 6,
                                                      "max_concurrent": 2}})
    search = make_search_alg(cfg, space, start_index=5)
    assert search.set_search_properties(None, None, space.param_space())
    seen = []
    for i in range(6):
        config = search.suggest(f"trial{i}")
        seen.append(config)
        assert 1e-4 <= config["lr"] <= 2e-2 and 0 <= config["warmup_ratio"] <= 0.1
        assert config["optimizer"] in ("sgd", "adamw") and config["scheduler"] in ("cosine", "linear")
        search.on_trial_complete(f"trial{i}", {METRIC: min(1.0, config["lr"] * 50), "epoch": 3})
    assert [c[TRIAL_INDEX] for c in seen] == list(range(5, 11))
    assert len({space.spec_from_config(c).training_id for c in seen}) == 6


def test_optuna_respects_max_concurrent(tmp_path: Path) -> None:
    space = load_adaptive_space(write(tmp_path, SPACE))
    cfg = ExperimentConfig.model_validate({"search": {"search": "optuna", "max_concurrent": 2}})
    search = make_search_alg(cfg, space)
    search.set_search_properties(None, None, space.param_space())
    assert search.suggest("a") and search.suggest("b")
    assert search.suggest("c") is None  # two live trials already


def test_produced_keeps_stopped_trials_candidates_and_failed_ones_missing(tmp_path: Path) -> None:
    from hpo.rundir.answers import AnswerStore
    from hpo.rundir.feed import CandidateFeed
    from hpo.search.adaptive.runner import produced
    from hpo.search.plan import Plan
    from hpo.types import Example, TrainingSpec

    space = load_adaptive_space(write(tmp_path, SPACE))  # checkpoints 1 and 3
    full, stopped, failed = (TrainingSpec("adamw", lr, "cosine", 3, tag=f"t0{i}")
                             for i, lr in enumerate((1e-3, 2e-3, 3e-3)))
    anchor = TrainingSpec("adamw", 2e-5, "cosine", 1, tag="baseline").candidates()[0]
    store, val = AnswerStore(tmp_path), [Example("q", "", "a")]
    for spec, epochs in ((full, (1, 3)), (stopped, (1,)), (anchor.spec, (1,))):
        for e in epochs:
            store.write(spec, e, val, ["a"], {"exact_match": 1.0})
    for spec in (full, stopped, failed):
        space.add(spec)
    feed = CandidateFeed([])
    feed.missing(failed.candidate_id(1), "training failed: boom")
    feed.missing(failed.candidate_id(3), "training failed: boom")
    session = produced(Plan(space, anchor), store, feed.missing_reasons())
    ids = [c.candidate_id for c in session.plan.candidates]
    assert ids == [full.candidate_id(1), full.candidate_id(3), stopped.candidate_id(1),
                   failed.candidate_id(1), failed.candidate_id(3)]
    assert stopped.candidate_id(3) not in ids  # never reached: not a candidate, not a failure
    assert set(session.feed.missing_reasons()) == {failed.candidate_id(1), failed.candidate_id(3)}
    assert session.feed.wait(stopped.candidate_id(1)) and session.feed.wait(anchor.candidate_id)
