"""Bad input through the real `hpo` entry point (a subprocess): one line, exit 2, nothing written.

Every bad-input class has its row in tests/unit/cli/test_bad_input.py, run in-process through
`hpo.cli.main`; these two rows prove that the installed command (`python -m hpo.cli`) gives
the same one line and exit code, for a config error and for a file that is not UTF-8.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SMALL_BASELINE, SMALL_GRID, hpo_cli
from tests.unit.cli.test_bad_input import run_args, snapshot

pytestmark = pytest.mark.integration

CASES = {
    "unknown_yaml_key": (b"name: x\ntrian:\n  batch_size: 4\n", ["trian", "unknown key"]),
    "experiment_not_utf8": ("name: café\n".encode("latin-1"), ["exp.yaml", "not UTF-8"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_real_cli_refuses_bad_input(case: str, tmp_path: Path) -> None:
    content, needles = CASES[case]
    (tmp_path / "grid.yaml").write_text(SMALL_GRID)
    (tmp_path / "base.yaml").write_text(SMALL_BASELINE)
    (tmp_path / "exp.yaml").write_bytes(content)
    before = snapshot(tmp_path)
    proc = hpo_cli(*run_args(tmp_path), "--experiment", str(tmp_path / "exp.yaml"), timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, f"{case}: rc={proc.returncode}\n{proc.stderr[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("hpo: error:"), proc.stderr[-2000:]
    assert all(n in lines[0] for n in needles), lines[0]
    assert snapshot(tmp_path) == before
