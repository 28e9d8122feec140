"""`judge` stands alone: importable and usable where `hpo` cannot be imported at all.

A subprocess gets a copy of only `judge/` on its path and a meta-path finder that refuses
every `hpo` module (so an editable install of the project cannot leak it in); it imports the
public judge modules and judges one pair of answers with the reference backend and a verdict
store. The import-linter contract "judge stands alone" checks the same statically.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent('''
    import importlib.abc
    import sys

    class NoHpo(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "hpo" or name.startswith("hpo."):
                raise ModuleNotFoundError(f"hpo is not importable here: {name}")
            return None

    sys.meta_path.insert(0, NoHpo())
    sys.path.insert(0, COPY)
    try:
        import hpo  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("hpo was importable: the test would prove nothing")

    import judge.pairwise, judge.store, judge.backends.reference  # noqa: E401
    from judge.pairwise import PairwiseJudge
    from judge.store import VerdictStore
    from judge.backends.reference import ReferenceJudge
    from judge.types import ComparisonItem

    assert judge.pairwise.__file__.startswith(COPY), judge.pairwise.__file__
    backend = ReferenceJudge({("Add 2 and 2.", ""): "4"})
    pairwise = PairwiseJudge(backend, VerdictStore(OUT + "/verdicts.sqlite"))
    print(pairwise.compare([ComparisonItem("Add 2 and 2.", "", "4", "5")]))
    print(sorted(m for m in sys.modules if m == "hpo" or m.startswith("hpo.")))
''')


def test_judge_imports_and_judges_without_hpo(tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(REPO / "judge", copy / "judge", ignore=shutil.ignore_patterns("__pycache__"))
    script = f"COPY = {str(copy)!r}\nOUT = {str(tmp_path)!r}\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome, hpo_modules = proc.stdout.strip().splitlines()[-2:]
    assert outcome == "[1]"  # answer a matches the reference exactly: a wins
    assert hpo_modules == "[]"
