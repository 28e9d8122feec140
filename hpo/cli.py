"""The `hpo` command line. Exit codes are listed in hpo.errors and the README."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from hpo.errors import EXIT_INTERNAL, HpoError

# flag -> dotted config key; CLI flags override YAML, which overrides defaults.
FLAG_KEYS = {"model": "model.name", "judge": "judge.backend", "judge_model": "judge.model",
             "judge_url": "judge.url", "strategy": "tournament.strategy", "data": "data.train",
             "validation": "data.validation", "tracking_uri": "tracking.uri",
             "address": "resources.address", "run_root": "run_root", "space": "search.space",
             "seed": "train.seed", "gpus_per_trial": "resources.gpus_per_trial",
             "register_winner": "tracking.register_winner"}


def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="search -> train -> judge -> winner")
    p.add_argument("-e", "--experiment", type=Path, help="experiment YAML (see experiments/)")
    for flag in FLAG_KEYS:
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set train.batch_size=16")
    p.add_argument("--run-name", help="run folder name under run_root (default: <name>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run (folder or name)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--fail-if-worse-than-baseline", action="store_true",
                   help="exit 4 when the winner does not beat the Alpaca-default baseline")


def cmd_run(args: argparse.Namespace) -> int:
    from hpo.config.schema import parse_override
    from hpo.run.experiment import load_experiment
    from hpo.run.pipeline import RunOptions, run

    overrides: dict[str, Any] = {}
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:  # typed and checked by the config model, like a YAML value
            overrides[key] = value
    overrides.update(dict(parse_override(s) for s in args.set))
    # a resumed run's judge options are checked against its stored backend (hpo.rundir.resume),
    # not against the backend of the defaults or the --experiment file
    cfg = load_experiment(args.experiment, {k: v for k, v in overrides.items()
                                            if not (args.resume and is_backend_option(k))})
    # --resume applies operational flags and refuses result-changing ones
    # (hpo.rundir.resume); an --experiment file given with --resume counts as flags.
    if args.resume and args.experiment:
        from hpo.config.schema import read_yaml
        from hpo.run.experiment import experiment_file
        from hpo.rundir.resume import flatten

        overrides = {**flatten(read_yaml(experiment_file(args.experiment))), **overrides}
    if args.resume:  # compared as loaded (file paths resolved, like the stored ones), not as typed
        from hpo.rundir.resume import flatten

        loaded = flatten(cfg.model_dump(mode="json"))
        overrides = {key: loaded.get(key, value) for key, value in overrides.items()}
    opts = RunOptions(run_name=args.run_name, resume=args.resume, dry_run=args.dry_run,
                      fail_if_worse_than_baseline=args.fail_if_worse_than_baseline,
                      overrides=overrides)
    return run(cfg, opts)


def is_backend_option(key: str) -> bool:
    """`judge.url`, `judge.batch_size`...: a dotted key that is a judge backend's own option."""
    from hpo.config.schema import SHARED_JUDGE_KEYS

    section, _, rest = key.partition(".")
    return section == "judge" and rest.split(".")[0] not in SHARED_JUDGE_KEYS


def cmd_report(args: argparse.Namespace) -> int:
    """Print a finished run's tables, or export its leaderboard (--format); a report.json of
    another shape is bad input (exit 2)."""
    from hpo.errors import ConfigError
    from hpo.reporting.export import export
    from hpo.reporting.report import load_report

    report = load_report(args.run, args.run_root)
    try:
        text = export(report, args.format, top=args.top)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(f"report for '{args.run}' has an unexpected format"
                          f" ({type(exc).__name__}: {exc})") from None
    print(text.rstrip("\n"))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the MLflow UI on the default store, bound to 127.0.0.1 unless told otherwise (another
    host is served, with a warning: the UI has no login). The store URI, which may hold a
    database password, goes in MLflow's own MLFLOW_BACKEND_STORE_URI, never on the server's
    command line, where every local user reads it (`ps`)."""
    from hpo.config.secrets import redact_url
    from judge.serve_cli import is_loopback

    uri = args.tracking_uri or f"sqlite:///{Path(args.run_root).resolve()}/mlflow.db"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_BACKEND_STORE_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "server",
           "--host", args.host, "--port", str(args.port), "--workers", "1"]
    if not is_loopback(args.host):
        print(f"hpo: warning: --host {args.host} serves the MLflow UI (no login) to anyone who can "
              f"reach port {args.port}", file=sys.stderr, flush=True)
    # MLflow 3.17's UI opens in its GenAI view unless told `workflowType`.
    page = f"http://{args.host}:{args.port}/#/experiments?workflowType=machine_learning"
    print(f"MLflow UI on {page} (store {redact_url(uri)}); Ctrl-C to stop", flush=True)
    os.execvpe(cmd[0], cmd, env)
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Flag errors as one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        from hpo.config.secrets import redact_text

        self.exit(2, f"hpo: error: {redact_text(message)} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    rep = sub.add_parser("report", help="print a finished run's decision as tables")
    rep.add_argument("run")
    rep.add_argument("--run-root", default="runs")
    rep.add_argument("--top", type=int, default=10)
    rep.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table",
                     help="table: the terminal report; csv/json/markdown: the leaderboard export")
    ui = sub.add_parser("ui", help="open the MLflow UI for the local store")
    ui.add_argument("--run-root", default="runs")
    ui.add_argument("--tracking-uri")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    _register_plugins(sub)
    return parser


def _register_plugins(sub: Any) -> None:
    from hpo.data.pairs import synthetic_source
    from judge import cli as judge_cli
    from judge import serve_cli as judge_serve

    judge_cli.register(sub, synthetic=synthetic_source)
    judge_serve.register(sub)


COMMANDS = {"run": cmd_run, "report": cmd_report, "ui": cmd_ui}


def quiet_libraries() -> None:
    """Keep the terminal for hpo's own progress: no download/load bars, no INFO chatter."""
    import logging

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("mlflow", "alembic", "ray", "ray.tune"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (a scheduler's or CI's stop) ends a run like Ctrl-C: marked KILLED, resumable."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    from hpo.config.secrets import redact_text

    args = build_parser().parse_args(argv)
    if args.command == "run" and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    quiet_libraries()
    try:
        handler = COMMANDS.get(args.command) or args.func
        return int(handler(args))
    except HpoError as exc:  # messages are redacted (hpo.config.secrets)
        print(f"hpo: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # RunInterrupted says which folder to resume
        print(f"hpo: {exc or 'interrupted (no run folder was written yet)'}", file=sys.stderr)
        return 130
    except Exception:  # a bug: show the traceback (redacted)
        import traceback

        print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
