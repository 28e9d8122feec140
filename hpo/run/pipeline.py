"""`hpo run`: plan -> stage inputs -> train -> judge -> decide -> record, all in MLflow.

Each stage takes what it needs and returns a value; none of them changes another's. The
pipeline wires roles together and owns no role's logic: trials train and generate (`hpo.trial`),
the judge compares (`judge`), the strategy decides (`hpo.tournament`), the tracker records
(`hpo.tracking`). Training and judging overlap: the tournament runs on its own thread and
judges a match as soon as both candidates' answers exist.
"""

from __future__ import annotations

from typing import Any

from hpo.config import ExperimentConfig
from hpo.progress import Progress
from hpo.run.decide import build_report, exit_code
from hpo.run.inputs import Inputs, RunOptions, Workspace, plan_run, resume_target, stage_inputs
from hpo.run.judge import judge_in_background
from hpo.run.record import record
from hpo.run.recorder import RunRecorder
from hpo.run.train import train_method
from hpo.train_plugin import TrainContext, Trained, feed_from_disk, planned_ids

__all__ = ["RunOptions", "run"]


def run(cfg: ExperimentConfig, opts: RunOptions) -> int:
    """Run (or resume) one experiment; returns the process exit code."""
    cfg, resumed = resume_target(cfg, opts)
    inputs = plan_run(cfg)  # 1. plan: everything checked, nothing written
    if opts.dry_run:
        print(dry_run_summary(cfg, inputs))
        return 0
    ws = stage_inputs(cfg, inputs, opts, resumed)  # 2. run folder, data, base model, judge
    feed = feed_from_disk(ws.store, planned_ids(inputs.plan))
    recorder = RunRecorder(cfg, ws.rd, ws.tracker, inputs.plan, feed, Progress(0))
    parent_id = recorder.parent()
    trained, tourney = train_and_judge(cfg, ws, inputs, recorder)  # 3. train, 4. judge
    report = build_report(cfg, trained, ws.store, tourney)  # 5. decide
    record(cfg, ws.rd, report, ws.tracker, parent_id)  # 6. record
    return exit_code(report, opts.fail_if_worse_than_baseline)


def train_and_judge(cfg: ExperimentConfig, ws: Workspace, inputs: Inputs,
                    recorder: RunRecorder) -> tuple[Trained, dict[str, Any]]:
    """Train, and judge on a thread: beside training when the candidates are known up front
    (a grid), after it when a search decides them (adaptive)."""
    method = train_method(cfg)
    ctx = TrainContext(cfg, ws.rd, ws.store, recorder, recorder.progress)
    say = recorder.progress.say
    if cfg.tournament.overlap and method.known_upfront:
        judging = judge_in_background(cfg, ws, inputs.val, Trained(inputs.plan, recorder.feed), say)
        trained = method.train(ctx, inputs.plan, recorder.feed)
    else:
        trained = method.train(ctx, inputs.plan, recorder.feed)
        judging = judge_in_background(cfg, ws, inputs.val, trained, say)
    try:
        return trained, judging.result()
    except BaseException:
        ws.rd.update_state(status="interrupted")
        raise


def dry_run_summary(cfg: ExperimentConfig, inputs: Inputs) -> str:
    """The plan, with the configured strategy's own worst-case judge-call bound."""
    from hpo.tournament.registry import max_calls

    n_items, strategy = len(inputs.val), cfg.tournament.strategy
    bound = max_calls(strategy, len(inputs.plan.candidates), n_items)
    return inputs.plan.summary(n_items, strategy, bound)
