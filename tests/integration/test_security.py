"""Security: the judge API key never leaks; safe defaults; config paths stay inside the run folder.

The leak check runs a real tiny `hpo run` with the `vllm` backend against the stub server,
which *requires* the key (so the test fails if the key is not sent at all), then searches
every byte under the run root (MLflow sqlite store, artifacts, verdict store, report, Ray
experiment state, logs) and the process output for the secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo.cli import build_parser
from hpo.config import ExperimentConfig
from hpo.errors import ConfigError
from hpo.experiment import load_experiment as load_config
from hpo.rundir import RunDir
from tests.conftest import REPO, SMALL_BASELINE, SMALL_GRID
from tests.helpers.openai_stub import OpenAIStub
from tests.helpers.procs import kill_marked, prefer_longer, start_hpo

pytestmark = pytest.mark.integration

SECRET = "some-secret-value"


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_api_key_never_leaks(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(SMALL_GRID)
    (tmp_path / "base.yaml").write_text(SMALL_BASELINE)
    root = tmp_path / "runs"
    with OpenAIStub(api_key=SECRET) as stub:
        stub.answer = prefer_longer
        args = ["run", "--run-root", str(root), "--space", str(tmp_path / "grid.yaml"),
                "--set", f"search.baseline={tmp_path / 'base.yaml'}", "--set", "data.synthetic.n_train=300",
                "--set", "data.synthetic.n_validation=8", "--set", "tournament.blocks=1",
                "--judge", "vllm", "--judge-model", stub.model, "--judge-url", stub.url, "--run-name", "sec"]
        proc = start_hpo(args, tmp_path / "logs", env={"HPO_JUDGE_API_KEY": SECRET})
        try:
            rc = proc.wait(400)
        finally:
            kill_marked(proc.marker)
        sent = {r.headers.get("authorization") for r in stub.completions()}
    out, err = proc.output()
    assert rc == 0, err[-3000:]
    assert sent == {f"Bearer {SECRET}"}, "the key was not sent with every judge request"
    assert SECRET not in out and SECRET not in err
    assert files_containing(root, SECRET.encode()) == []
    report = json.loads((root / "sec" / "report.json").read_text())
    assert report["judge_stats"]["calls"] > 0  # the judge really was used

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    for run in client.search_runs([experiment_id(client)]):
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert not any(SECRET in str(v) for v in values)


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
