"""A finished run read back through a real MLflow server started by `hpo ui`.

`hpo ui` execs `mlflow server --backend-store-uri sqlite:///<run_root>/mlflow.db --host
127.0.0.1 --workers 1` (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false). The test checks it listens
on 127.0.0.1 only, reads experiment, runs, metrics and artifacts over REST with httpx; then headless Debian
`chromium` renders the MLflow UI's pages as a user sees them (skipped, with the reason, when
chromium is absent; CI's .ci/run installs it).

MLflow 3.17's UI picks its GenAI or model-training view from a global switch (the URL's
`workflowType`, else the browser's saved choice); hpo also tags the experiment
`mlflow.experimentKind=custom_model_development` and `hpo ui` prints the training-view URL.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest

from hpo.run.steps import STEP_METRICS
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
    deadline = time.monotonic() + 180  # ~10 s idle; minutes on a loaded 2-core runner
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One reduced real run and `hpo ui` over its store, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("served")
    root = finished_run(tmp)
    ui, url = start_ui(root, tmp / "logs")
    try:
        yield root, url
    finally:
        kill_group(ui)
        kill_marked(ui.marker)


def test_mlflow_server_serves_the_finished_run(served: tuple[Path, str], tmp_path: Path) -> None:
    root, url = served
    report = json.loads((root / "ui" / "report.json").read_text())
    winner = report["winner"]["candidate_id"]
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
    got = httpx.get(f"{url}/get-artifact", params={"path": "report.json", "run_uuid": parent})
    assert got.status_code == 200 and got.json()["winner"]["candidate_id"] == winner
    assert exp["tags"] and {"key": "mlflow.experimentKind", "value": "custom_model_development"} in exp["tags"]
    listed = httpx.get(f"{api}/artifacts/list", params={"run_id": parent, "path": "tables"}).json()
    assert {"tables/candidates.json", "tables/matches.json", "tables/winner_vs_baseline.json"} <= {
        f["path"] for f in listed["files"]}
    assert tags[parent]["mlflow.source.git.commit"] and "hpo.version.torch" in tags[parent]
    rate = httpx.get(f"{api}/metrics/get-history",
                     params={"run_id": child, "metric_key": "judge_win_rate_vs_baseline"}).json()
    assert [m["step"] for m in rate["metrics"]] == [report["winner"]["epoch"]]
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}
    env = httpx.get(f"{api}/artifacts/list", params={"run_id": parent, "path": "environment"}).json()
    assert [f["path"] for f in env["files"]] == ["environment/packages.txt"]


TRAINING_VIEW = "workflowType=machine_learning"
STEP_LOSS = STEP_METRICS["loss"]  # "train/loss", logged every train.log_every_steps steps


def test_mlflow_ui_renders_the_training_dashboard(served: tuple[Path, str], tmp_path: Path) -> None:
    """The rendered pages a user opens: the experiment's runs (model-training view) with the
    parent's two datasets, the child runs compared (name, lr, optimizer of each), the parent's
    page (its description's winner line, its first dataset, the winner tag), the match table."""
    if not shutil.which("chromium"):
        pytest.skip("chromium not installed (apt-get install -y chromium); CI's .ci/run installs it")
    root, url = served
    report = json.loads((root / "ui" / "report.json").read_text())
    api = f"{url}/api/2.0/mlflow"
    exp = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "hpo"}).json()["experiment"]
    eid = exp["experiment_id"]
    runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [eid]}).json()["runs"]
    parent = next(r for r in runs if not any(t["key"] == "mlflow.parentRunId" for t in r["data"]["tags"]))
    children = [r for r in runs if r is not parent]
    pid = parent["info"]["run_id"]

    runs_page = text_of(render(f"{url}/#/experiments/{eid}/runs?{TRAINING_VIEW}", tmp_path, "runs.png"))
    assert "Model training" in runs_page and "Model registry" in runs_page, runs_page[:1500]
    assert "Run Name" in runs_page and f"| {parent['info']['run_name']} |" in runs_page, runs_page[:2000]
    assert "Sessions" not in runs_page and "Token Usage" not in runs_page  # not the GenAI overview
    datasets = logged_datasets(root / "ui", report["experiment"])
    for name, digest, context in datasets:  # the Dataset column: name (digest), context
        assert f"| {name} ({digest}) | {context} |" in runs_page, runs_page[:3000]

    ids = json.dumps([c["info"]["run_id"] for c in children])
    compare = text_of(render(f"{url}/#/compare-runs?runs={quote(ids)}&experiments={quote(json.dumps([eid]))}"
                             f"&{TRAINING_VIEW}", tmp_path))
    for child in children:
        params = {p["key"]: p["value"] for p in child["data"]["params"]}
        assert child["info"]["run_name"] in compare, compare[:2000]
        assert f"| {params['lr']} |" in compare and f"| {params['optimizer']} |" in compare, compare[:2000]
    assert "| lr |" in compare and "| optimizer |" in compare

    run_page = text_of(render(f"{url}/#/experiments/{eid}/runs/{pid}?{TRAINING_VIEW}", tmp_path))
    assert f"hpo.winner | : {report['winner']['candidate_id']}" in run_page, run_page[:2000]
    w = report["winner"]  # the description (mlflow.note.content), rendered from its Markdown
    assert (f"| Winner: | {w['candidate_id']} | ({w['optimizer']}, lr {w['lr']}, {w['scheduler']}, "
            f"epoch {w['epoch']}); strategy |") in run_page, run_page[:3000]
    name, digest, context = datasets[0]  # the run page lists the first, then "+1"
    assert f"| Datasets | {name} ({digest}) | {context} | +1 |" in run_page, run_page[:3000]

    table = text_of(render(f"{url}/#/experiments/{eid}/runs/{pid}/artifacts/tables/matches.json"
                           f"?{TRAINING_VIEW}", tmp_path))
    first = next(m for m in report["matches"] if not m["forfeit"])
    assert "tables/matches.json" in table and "| stage |" in table, table[:2000]
    assert f"| {first['stage']} | {first['a']} | {first['b']} |" in table, table[:2000]


def logged_datasets(run_dir: Path, experiment: str) -> list[tuple[str, str, str]]:
    """(name, digest, context) the parent should show for the staged training and validation
    sets: named after the experiment, digest = the file's sha256, first 16 hex digits."""
    return [(f"{experiment}-{split}", hashlib.sha256((run_dir / "data" / f"{split}.jsonl").read_bytes())
             .hexdigest()[:16], context) for split, context in (("train", "training"), ("validation", "evaluation"))]


def test_mlflow_ui_renders_a_childs_step_loss_and_system_metrics(served: tuple[Path, str], tmp_path: Path) -> None:
    """The winner's training as a user sees it: the metric page of `train/loss` plots one marker
    per step report (plotly SVG points: as many as the REST history holds, more than the
    training's epochs, so per-epoch logging alone fails), and its System metrics tab has a
    chart per `system/...` metric the trial sampled."""
    if not shutil.which("chromium"):
        pytest.skip("chromium not installed (apt-get install -y chromium); CI's .ci/run installs it")
    root, url = served
    winner = json.loads((root / "ui" / "report.json").read_text())["winner"]
    api = f"{url}/api/2.0/mlflow"
    exp = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "hpo"}).json()
    eid = exp["experiment"]["experiment_id"]
    runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [eid]}).json()["runs"]
    training = {"key": "hpo.training_id", "value": winner["candidate_id"].rsplit("-ep", 1)[0]}
    child = next(r for r in runs if training in r["data"]["tags"])
    cid, name = child["info"]["run_id"], child["info"]["run_name"]
    epochs = int(next(p["value"] for p in child["data"]["params"] if p["key"] == "epochs"))
    history = httpx.get(f"{api}/metrics/get-history",
                        params={"run_id": cid, "metric_key": STEP_LOSS}).json().get("metrics", [])
    assert len(history) > epochs, (STEP_LOSS, len(history), epochs)

    dom = render(metric_page(url, eid, cid, STEP_LOSS), tmp_path)
    page = text_of(dom)
    assert f"| {name} ({STEP_LOSS}) |" in page, page[:2000]  # the chart's legend
    assert f"(step={max(m['step'] for m in history)})" in page, page[:2000]  # its latest/min/max table
    assert plotted_points(dom) == len(history), (plotted_points(dom), len(history))

    system = sorted(m["key"] for m in child["data"]["metrics"] if m["key"].startswith("system/"))
    assert "system/cpu_utilization_percentage" in system, system
    samples = sum(len(httpx.get(f"{api}/metrics/get-history", params={"run_id": cid, "metric_key": k})
                      .json().get("metrics", [])) for k in system)
    dom = render(f"{url}/#/experiments/{eid}/runs/{cid}/system-metrics?{TRAINING_VIEW}", tmp_path)
    page = text_of(dom)
    assert f"| System metrics | ({len(system)}) |" in page, page[:2000]
    for key in system:  # a chart titled by the short name, its legend the run and the full key
        assert f"| {key.removeprefix('system/')} |" in page and f"| {name} ({key}) |" in page, page[:3000]
    assert plotted_points(dom) == samples, (plotted_points(dom), samples)  # charts drawn, not spinners


def plotted_points(dom: str) -> int:
    """Markers plotly drew in the page's SVG charts (one per point when points are shown)."""
    return len(re.findall(r'<path class="point"', dom))


def metric_page(url: str, eid: str, run_id: str, key: str) -> str:
    """The UI's metric page of one run's `key` against the step, with a marker on every point."""
    query = {"runs": json.dumps([run_id]), "metric": json.dumps(key), "experiments": json.dumps([eid]),
             "plot_metric_keys": json.dumps([key]), "plot_layout": "{}", "x_axis": "step",
             "y_axis_scale": "linear", "line_smoothness": "1", "show_point": "true",
             "deselected_curves": "[]", "last_linear_y_axis_range": "[]"}
    return f"{url}/#/metric?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())


def render(page: str, tmp: Path, screenshot: str | None = None) -> str:
    """Headless chromium: the DOM after the JS app rendered (and a screenshot kept in tmp).
    Every frame runs the compositor's stages: without it, charts that wait for an
    IntersectionObserver (the run page's metric tabs) stayed spinners in 2 of 3 renders."""
    profile = Path(tempfile.mkdtemp(dir=tmp))  # a fresh profile: no saved view choice
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1600,1000", "--virtual-time-budget=20000",
             "--run-all-compositor-stages-before-draw"]
    if screenshot:
        shot = tmp / screenshot
        subprocess.run(["chromium", *flags, f"--screenshot={shot}", page], capture_output=True, timeout=150)
        assert shot.is_file() and shot.stat().st_size > 10_000
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page], capture_output=True, text=True, timeout=150)
    return dom.stdout


def text_of(dom: str) -> str:
    """The page's visible text, cells separated by ' | ' (scripts and styles dropped)."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " | ", body))
    return re.sub(r"(\s*\|\s*)+", " | ", text)
