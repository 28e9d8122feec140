"""`hpo run`: plan -> stage inputs -> train -> judge -> decide -> record, all in MLflow.

Each stage takes what it needs and returns a value; none of them changes another's. The
pipeline wires roles together and owns no role's logic: trials train and generate (`hpo.trial`),
the judge compares (`judge`), the strategy decides (`hpo.tournament`), the tracker records
(`hpo.tracking`). Training and judging overlap: the tournament runs on its own thread and
judges a match as soon as both candidates' answers exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hpo.config.schema import ExperimentConfig
from hpo.errors import JudgeUnavailableError, RunInterrupted
from hpo.reporting.progress import Progress
from hpo.run.decide import build_report, exit_code
from hpo.run.events import RunRecorder
from hpo.run.inputs import Inputs, RunOptions, Workspace, plan_run, resume_target, stage_inputs
from hpo.run.judge import Background, judge_in_background
from hpo.run.outcome import TournamentOutcome
from hpo.run.record import record
from hpo.run.train import train_method
from hpo.rundir.layout import check_run_name
from hpo.search.method import TrainContext, Trained, feed_from_disk, planned_ids
from hpo.tracking.dashboard import parent_status

__all__ = ["RunOptions", "run"]


def run(cfg: ExperimentConfig, opts: RunOptions) -> int:
    """Run (or resume) one experiment; returns the process exit code."""
    cfg, resumed = resume_target(cfg, opts)
    if resumed is None:
        check_run_name(opts.run_name)  # a dry run refuses what the real run refuses
    inputs = plan_run(cfg, opts.dry_run)  # 1. plan: everything checked, nothing written
    if opts.dry_run:
        print(dry_run_summary(cfg, inputs))
        return 0
    ws = stage_inputs(cfg, inputs, opts, resumed)  # 2. run folder, data, base model, judge
    # Ctrl-C must reach us as KeyboardInterrupt, not be taken by Ray Tune, which would stop the
    # trials, print its own Tuner.restore hint and return as if every training had failed.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        with parent_status(ws.tracker, ws.rd, cfg):  # RUNNING (again on resume); FAILED/KILLED on a stop
            return run_stages(cfg, opts, inputs, ws)
    except KeyboardInterrupt:  # the run stays resumable: say how, not that it failed
        raise RunInterrupted(ws.rd.path) from None


def run_stages(cfg: ExperimentConfig, opts: RunOptions, inputs: Inputs, ws: Workspace) -> int:
    """Stages 3-6 over a staged workspace, with one progress view (live on a terminal)."""
    feed = feed_from_disk(ws.store, planned_ids(inputs.plan))
    progress = Progress(0, verdicts=ws.rd / "verdicts.sqlite")
    try:
        recorder = RunRecorder(cfg, ws.rd, ws.tracker, inputs.plan, feed, progress)
        parent_id = recorder.parent()
        trained, outcome = train_and_judge(cfg, ws, inputs, recorder)  # 3. train, 4. judge
        report = build_report(cfg, trained, ws.store, outcome)  # 5. decide
        record(cfg, ws.rd, report, ws.tracker, parent_id)  # 6. record
    finally:
        progress.close()
    return exit_code(report, opts.fail_if_worse_than_baseline)


def train_and_judge(cfg: ExperimentConfig, ws: Workspace, inputs: Inputs,
                    recorder: RunRecorder) -> tuple[Trained, TournamentOutcome]:
    """Train, and judge on a thread: beside training when the candidates are known up front
    (a grid), after it when a search decides them (adaptive). If the overlapped judge is gone
    past its deadline, trainings stop after their current checkpoint (exit 5, resumable)."""
    method = train_method(cfg)
    ctx = TrainContext(cfg, ws.rd, ws.store, recorder, recorder.progress)
    say = recorder.progress.say
    if cfg.tournament.overlap and method.known_upfront:
        judging = judge_in_background(cfg, ws, inputs.val, Trained(inputs.plan, recorder.feed), say)
        ctx = replace(ctx, stop=JudgeGone(judging, say, ws.rd.path))
        trained = method.train(ctx, inputs.plan, recorder.feed)
    else:
        trained = method.train(ctx, inputs.plan, recorder.feed)
        judging = judge_in_background(cfg, ws, inputs.val, trained, say)
    try:
        return trained, judging.result()
    except BaseException:
        ws.rd.update_state(status="interrupted")
        raise


class JudgeGone:
    """True once the overlapped tournament died because the judge stayed unreachable past
    `judge.deadline_s`; says so once, with the resume command."""

    def __init__(self, judging: Background[TournamentOutcome], say: Callable[[str], None],
                 run_dir: Path) -> None:
        self.judging, self.say, self.run_dir, self.said = judging, say, run_dir, False

    def __call__(self) -> bool:
        gone = isinstance(self.judging.error(), JudgeUnavailableError)
        if gone and not self.said:
            self.said = True
            self.say("judge gone past judge.deadline_s: trainings stop after their current"
                     f" checkpoint; resume with: hpo run --resume {self.run_dir}")
        return gone


def dry_run_summary(cfg: ExperimentConfig, inputs: Inputs) -> str:
    """The plan with the configured strategy's own worst-case judge-call bound, the GPU split
    between judge and trials, and what each trial needs (resources, effective batch, memory)."""
    from hpo.search.cluster import gpu_split
    from hpo.tournament.registry import max_calls
    from hpo.trial.sizing import describe

    n_items = len(inputs.val) or 170  # data files not there yet: the paper's 170 instructions
    strategy = cfg.tournament.strategy
    bound = max_calls(strategy, len(inputs.plan.candidates), n_items)
    split = gpu_split(cfg)
    lines = [inputs.plan.summary(n_items, strategy, bound), epoch_line(cfg, inputs),
             *([split] if split else []), describe(cfg, len(inputs.val) or None, inputs.plan)]
    return "\n".join(lines)


def epoch_line(cfg: ExperimentConfig, inputs: Inputs) -> str:
    """The search mode's worst-case and expected training epochs next to the full grid's."""
    from hpo.search.adaptive.rungs import epoch_budget, rung_calls, schedule

    space = inputs.plan.space
    epochs = max((t.epochs for t in space.trainings), default=len(space.checkpoints))
    n = len(space.trainings) or cfg.search.num_samples
    line = epoch_budget(cfg, n, epochs).line()
    h = cfg.search.halving
    if cfg.search.scheduler != "halving" or h.rank_by != "judge":
        return line
    rounds = schedule(n, h.rungs, epochs, h.eta)
    items = min(h.items or len(inputs.val) or 170, len(inputs.val) or 170)
    return f"{line}\nrung judging     at most {rung_calls(rounds, items)} judge calls ({items} items per match)"
