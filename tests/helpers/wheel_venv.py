"""Install the project from its built wheel into a fresh venv, the way a user gets it.

`build_wheel_venv(dest)` builds the wheel from a copy of the checkout's files (tracked and
untracked-but-not-ignored, as a fresh clone plus the working changes would have: no stale
`build/` folder leaks into it) with `pip wheel --no-deps --no-build-isolation` (offline:
setuptools comes from the project's own venv), creates a venv
without pip under `dest`, and installs only that wheel into it (`--no-deps`, with the project
venv's pip pointed at the new interpreter). The dependencies (torch, Ray, DeepSpeed, ...) are
borrowed, not reinstalled: a `.pth` file in the new venv's site-packages names the project venv's
site-packages folder, so they import from there. A `.pth` *path entry* is appended to `sys.path`
as a plain folder: the `.pth` files inside it (the editable install's finder among them) are not
processed, so `hpo` and `judge` import from the wheel. `imported_from` shows it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BORROWED_PTH = "_borrowed_project_deps.pth"


def source_copy(dest: Path) -> Path:
    """The checkout's files (not ignored ones) copied to `dest`, symlinks kept as symlinks."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src, out = REPO / name, dest / name
        if not src.exists() and not src.is_symlink():  # deleted in the working tree
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out, follow_symlinks=False)
    return dest


def build_wheel(out_dir: Path) -> Path:
    """The project's wheel, built from a copy of the checkout into `out_dir` (offline)."""
    src = source_copy(out_dir / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out_dir), str(src)], check=True,
                   capture_output=True, text=True, timeout=600)
    wheels = sorted(out_dir.glob("hpo-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one hpo wheel in {out_dir}, found {wheels}")
    return wheels[0]


def wheel_names(wheel: Path) -> list[str]:
    """The file names inside a wheel (what `unzip -l` lists)."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def build_wheel_venv(dest: Path, wheel: Path | None = None) -> Path:
    """A fresh venv under `dest` with only the hpo wheel installed; returns its python.

    The wheel is built once (into `dest/wheel`) unless one is given."""
    wheel = wheel or build_wheel(dest / "wheel")
    venv = dest / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True, text=True,
                   timeout=600)
    _borrow_site_packages(python)
    return python


def _borrow_site_packages(python: Path) -> None:
    """Make the project venv's packages importable in the new venv (a path entry, see above)."""
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / BORROWED_PTH).write_text(sysconfig.get_paths()["purelib"] + "\n")


def imported_from(python: Path) -> dict[str, Path]:
    """Where `hpo` and `judge` import from in that venv (the wheel's copy inside the venv, when
    the borrowed site-packages did not pull in the editable install)."""
    code = "import hpo, judge; print(hpo.__file__); print(judge.__file__)"
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True,
                         cwd=python.parent).stdout.split()
    return {"hpo": Path(out[0]), "judge": Path(out[1])}
