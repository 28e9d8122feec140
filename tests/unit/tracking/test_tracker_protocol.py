"""The seams that carry a tracker or a judge backend are typed by their Protocols, and every
registered tracker implements `Tracker` as its callers use it (registration reads `uri`)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import get_type_hints

import pytest

from hpo.tracking import TRACKERS
from hpo.tracking.base import Tracker
from hpo.tracking.null import NullTracker

HPO = Path(__file__).resolve().parents[3] / "hpo"
TYPED = {"tracker": "Tracker", "backend": "JudgeBackend"}


def protocol_members(proto: type) -> list[str]:
    return sorted(n for n in vars(proto) if not n.startswith("_"))


def untyped_seams(source: str, where: str) -> list[str]:
    """`tracker`/`backend` parameters and fields annotated `Any` in one module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        named = ([(a.arg, a.annotation) for a in node.args.args + node.args.kwonlyargs]
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else
                 [(node.target.id, node.annotation)] if isinstance(node, ast.AnnAssign)
                 and isinstance(node.target, ast.Name) else [])
        found += [f"{where}:{node.lineno} {name}: Any" for name, ann in named
                  if name in TYPED and ann is not None and ast.unparse(ann) == "Any"]
    return found


def test_no_tracker_or_backend_is_typed_any() -> None:
    # in the config schema `backend` is the backend's name as the user wrote it, not a backend
    found = [hit for path in sorted(HPO.rglob("*.py")) if path != HPO / "config" / "schema.py"
             for hit in untyped_seams(path.read_text(), str(path.relative_to(HPO.parent)))]
    assert found == [], f"annotate with {TYPED}: {found}"


@pytest.mark.parametrize("name", TRACKERS.names())
def test_every_tracker_has_the_protocol_s_members_and_signatures(name: str) -> None:
    impl = TRACKERS.load(name)
    for member in protocol_members(Tracker):
        wanted = vars(Tracker)[member]
        if isinstance(wanted, property):  # an attribute: declared on the class or a property
            assert member in get_type_hints(impl) or isinstance(vars(impl).get(member), property), member
            continue
        got = inspect.signature(getattr(impl, member))
        assert list(got.parameters) == list(inspect.signature(wanted).parameters), member
        assert [p.default for p in got.parameters.values()] == \
            [p.default for p in inspect.signature(wanted).parameters.values()], member


def test_the_null_tracker_is_a_tracker_and_names_no_uri() -> None:
    tracker = NullTracker()
    assert isinstance(tracker, Tracker)
    assert tracker.uri is None and "uri" in protocol_members(Tracker)
