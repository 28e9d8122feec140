"""The judge server's secrets and exposure: the API key reaches vLLM through its environment
(never its argv, never an error message), an open host needs a key or an explicit flag, and
the compile cache lives in a private per-user folder.

A fake "vLLM python" (a shell script) stands in for the server: it records the argv and
environment it was started with, prints an argument dump the way vLLM does, and exits 1,
so `serve_judge` reports its last log line as the start error.
"""

from __future__ import annotations

import argparse
import inspect
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.cli import build_parser, main  # noqa: E402
from judge import ray_serve, serve_cli  # noqa: E402
from judge.errors import ConfigError  # noqa: E402
from judge.serve import server_command, server_env  # noqa: E402
from tests.helpers.openai_stub import free_port  # noqa: E402

KEY = "PLANTED-judge-key-7f3a"
FAKE = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_OUT/argv"
printf '%s' "$VLLM_API_KEY" > "$FAKE_OUT/env_key"
printf '%s' "$VLLM_CACHE_ROOT" > "$FAKE_OUT/cache"
echo "non-default args: {'args': '$*', 'api_key': ['$VLLM_API_KEY']}"
exit 1
"""


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in server that records what it was given; a private cache home; the key set."""
    script = tmp_path / "fake-python"
    script.write_text(FAKE)
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_OUT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("K_PLANT", KEY)
    return script


def _serve_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve-judge", "/m", "--port", str(free_port()), *extra])


def test_api_key_goes_to_the_server_env_never_argv_or_error_text(fake_python: Path, tmp_path: Path) -> None:
    args = _serve_args("--python", str(fake_python), "--api-key-env", "K_PLANT", "--wait", "30")
    with pytest.raises(ConfigError, match="exited with code 1 before ready") as info:
        serve_cli.run_serve_judge(args)
    argv = (tmp_path / "argv").read_text()
    assert KEY not in argv and "--api-key" not in argv, argv
    assert (tmp_path / "env_key").read_text() == KEY  # vLLM reads VLLM_API_KEY
    assert KEY not in str(info.value) and "non-default args" in str(info.value)


def test_flags_never_carry_the_key_the_env_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_PLANT", KEY)
    flags = ray_serve.vllm_args(2, 0.9, "K_PLANT")
    cmd = server_command("/m", "127.0.0.1", 8001, "py", "judge", True, None, flags)
    assert KEY not in " ".join(cmd) and "--api-key" not in cmd
    assert flags == ["--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.9"]
    assert server_env(True, "/c", api_key=ray_serve.api_key("K_PLANT"))["VLLM_API_KEY"] == KEY


def test_named_key_variable_that_is_unset_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K_UNSET", raising=False)
    with pytest.raises(ConfigError, match="K_UNSET"):
        ray_serve.api_key("K_UNSET")
    assert ray_serve.api_key(None) is None


def test_cache_is_a_private_per_user_folder(fake_python: Path, tmp_path: Path) -> None:
    args = _serve_args("--python", str(fake_python), "--wait", "30")
    with pytest.raises(ConfigError):
        serve_cli.run_serve_judge(args)
    cache = Path((tmp_path / "cache").read_text())
    assert not str(cache).startswith(str(Path(tempfile.gettempdir()) / "hpo-vllm-cache"))
    assert cache.is_relative_to(tmp_path / "xdg") and cache.is_dir()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def _record_launch(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace both launchers with recorders, so no server or Ray cluster is touched."""
    launched: list[str] = []

    def fake_ray(args: argparse.Namespace) -> int:
        launched.append("ray")
        return 0

    monkeypatch.setattr(ray_serve, "run_blocking", fake_ray)

    class Proc:
        pid = 1

        def wait(self) -> int:
            return 0

    def fake_serve(*a: Any, **k: Any) -> Proc:
        launched.append("local")
        return Proc()

    monkeypatch.setattr(serve_cli, "serve_judge", fake_serve)
    monkeypatch.setattr(serve_cli, "stop_server", lambda proc: None)
    return launched


@pytest.mark.parametrize("mode", [["--ray"], []])
def test_open_host_without_a_key_is_refused(mode: list[str], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    launched = _record_launch(monkeypatch)
    monkeypatch.delenv("HPO_JUDGE_API_KEY", raising=False)
    code = main(["serve-judge", "/m", *mode, "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2 and launched == [], err
    assert err.count("\n") == 1 and "--allow-unauthenticated" in err and "--api-key-env" in err


@pytest.mark.parametrize("extra", [["--allow-unauthenticated"], ["--api-key-env", "K_PLANT"]])
def test_open_host_with_a_key_or_the_explicit_flag_starts(extra: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    launched = _record_launch(monkeypatch)
    monkeypatch.setenv("K_PLANT", KEY)
    assert main(["serve-judge", "/m", "--ray", "--host", "0.0.0.0", *extra]) == 0
    assert launched == ["ray"]


def test_loopback_needs_no_key_and_ray_start_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    launched = _record_launch(monkeypatch)
    assert main(["serve-judge", "/m", "--ray"]) == 0 and launched == ["ray"]
    assert inspect.signature(ray_serve.start).parameters["host"].default == "127.0.0.1"
