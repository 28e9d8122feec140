"""The CLI starts light: building its parser (every `hpo ...` invocation, including the bad-input
refusals and `--resume` on a locked folder) loads no torch, transformers, sklearn or Ray. Those
cost ~10 s on a 2-core machine and belong to the commands that use them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "sklearn", "ray", "deepspeed", "peft", "mlflow")


def test_building_the_parser_imports_no_heavy_library() -> None:
    code = ("import sys, hpo.cli as c; c.build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_judge_train_still_lists_its_recipes() -> None:
    from hpo.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["judge", "train", "--synthetic", "--out", "x", "--recipe", "tiny"])
    assert args.recipe == "tiny"


def test_recipe_names_match_the_recipes() -> None:
    from judge.training.cli import RECIPE_NAMES
    from judge.training.recipes import RECIPES

    assert sorted(RECIPE_NAMES) == sorted(RECIPES)
