"""`hpo ui`: the MLflow server it starts never carries the tracking URI's password on its
command line (MLflow reads MLFLOW_BACKEND_STORE_URI), and a non-loopback --host warns."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.cli import main  # noqa: E402

PASSWORD = "PLANTED-db-pass-91c2"
URI = f"postgresql://mlflow:{PASSWORD}@db.internal:5432/mlflow"


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Record what `hpo ui` would exec instead of replacing the test process."""
    seen: dict[str, Any] = {}

    def fake_exec(file: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(file=file, argv=list(argv), env=dict(env))

    monkeypatch.setattr(os, "execvpe", fake_exec)
    return seen


def test_tracking_password_stays_off_the_servers_argv(launched: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--tracking-uri", URI]) == 0
    assert PASSWORD not in " ".join(launched["argv"]), launched["argv"]
    assert launched["argv"][1:4] == ["-m", "mlflow", "server"]
    assert launched["env"]["MLFLOW_BACKEND_STORE_URI"] == URI  # MLflow's own env var for the flag
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err


def test_default_store_is_passed_the_same_way(launched: dict[str, Any], tmp_path: Path) -> None:
    assert main(["ui", "--run-root", str(tmp_path)]) == 0
    assert launched["env"]["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert "--backend-store-uri" not in launched["argv"]


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "myhost"])
def test_non_loopback_host_warns_in_one_line(host: str, launched: dict[str, Any],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--host", host]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and host in err, err
    assert launched["argv"][launched["argv"].index("--host") + 1] == host  # warned, not refused


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_host_is_quiet(host: str, launched: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--host", host]) == 0
    assert capsys.readouterr().err == ""
