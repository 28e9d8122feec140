"""A finished run read back through a real MLflow server started by `hpo ui`.

`hpo ui` execs `mlflow server --backend-store-uri sqlite:///<run_root>/mlflow.db --host
127.0.0.1 --workers 1` (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false). The test checks it listens
on 127.0.0.1 only, reads experiment, runs, metrics and artifacts over REST with httpx, and,
when `chromium` is installed, renders the run page headless and looks for the winner in the DOM.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import SMALL_BASELINE, SMALL_GRID, hpo_cli
from tests.helpers.openai_stub import free_port
from tests.helpers.procs import HpoProcess, kill_group, kill_marked, start_hpo

pytestmark = pytest.mark.integration


def finished_run(tmp: Path) -> Path:
    (tmp / "grid.yaml").write_text(SMALL_GRID)
    (tmp / "base.yaml").write_text(SMALL_BASELINE)
    proc = hpo_cli("run", "--run-root", str(tmp / "runs"), "--space", str(tmp / "grid.yaml"),
                   "--set", f"search.baseline={tmp / 'base.yaml'}", "--set", "data.synthetic.n_train=300",
                   "--set", "data.synthetic.n_validation=8", "--set", "tournament.blocks=1",
                   "--run-name", "ui", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "runs"


def start_ui(root: Path, logs: Path) -> tuple[HpoProcess, str]:
    port = free_port()
    ui = start_hpo(["ui", "--run-root", str(root), "--port", str(port)], logs)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and ui.popen.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return ui, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlflow server did not come up: {ui.output()[1][-2000:]}")


def listening_hosts(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_mlflow_server_serves_the_finished_run(tmp_path: Path) -> None:
    root = finished_run(tmp_path)
    report = json.loads((root / "ui" / "report.json").read_text())
    winner = report["winner"]["candidate_id"]
    ui, url = start_ui(root, tmp_path / "logs")
    try:
        assert listening_hosts(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}
        api = f"{url}/api/2.0/mlflow"
        exp = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "hpo"}).json()["experiment"]
        runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [exp["experiment_id"]]}).json()["runs"]
        tags = {r["info"]["run_id"]: {t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs}
        parent = next(rid for rid, t in tags.items() if "mlflow.parentRunId" not in t)
        assert tags[parent]["hpo.winner"] == winner and tags[parent]["hpo.status"] == "complete"
        assert len(runs) == 4  # parent + 2 grid trainings + baseline
        child = next(rid for rid, t in tags.items() if t.get("hpo.training_id") == winner.rsplit("-ep", 1)[0])
        history = httpx.get(f"{api}/metrics/get-history", params={"run_id": child, "metric_key": "exact_match"}).json()
        assert {m["step"] for m in history["metrics"]} >= {report["winner"]["epoch"]}
        listed = httpx.get(f"{api}/artifacts/list", params={"run_id": parent}).json()
        assert {"report.json", "verdicts.jsonl"} <= {f["path"] for f in listed["files"]}
        served = httpx.get(f"{url}/get-artifact", params={"path": "report.json", "run_uuid": parent})
        assert served.status_code == 200 and served.json()["winner"]["candidate_id"] == winner
        if shutil.which("chromium"):
            dom = render(f"{url}/#/experiments/{exp['experiment_id']}/runs/{parent}", tmp_path)
            assert "ui" in dom and winner in dom, dom[-2000:]
    finally:
        kill_group(ui)
        kill_marked(ui.marker)


def render(page: str, tmp: Path) -> str:
    """Headless chromium: a screenshot (kept in tmp) and the DOM after the JS app rendered."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp / 'chromium'}", "--window-size=1400,900", "--virtual-time-budget=20000"]
    shot = tmp / "run-page.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    return dom.stdout
