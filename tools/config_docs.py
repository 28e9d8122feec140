"""Render the experiment config schema (hpo/config/schema.py) into docs/config.md.

The descriptions live once, as `Field(description=...)` in the pydantic models; this script
turns them into one table per section, in the order the sections are declared (the order a
user meets them in an experiment YAML). The output is deterministic, and
tests/unit/config/test_config_docs.py fails when the committed file differs from it.

    python -m tools.config_docs          # rewrite docs/config.md (`make config-docs`)
    python -m tools.config_docs --check  # exit 1 when docs/config.md is stale

Run it as a module from the repository root, so it reads this checkout's hpo/config/schema.py rather
than an installed copy.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hpo.config.schema import ExperimentConfig

DOC_PATH = "docs/config.md"
HEADER = """# Experiment configuration

<!-- Generated from hpo/config/schema.py by `make config-docs` (python -m tools.config_docs): do not
edit by hand; change the `Field(description=...)` in the schema and regenerate. -->

An experiment is one YAML file (`hpo run --experiment FILE`); every key below may also be set
on the command line with `--set key=value` (the value is read as YAML). Unknown keys are
errors, not ignored settings. Precedence: the defaults below, then the model's preset
(`model.name` an alias such as `bloom-7b`), then the YAML file, then the command-line flags.
"""


@dataclass(frozen=True)
class Section:
    """One config model as it appears in the YAML: its dotted path ("" = the top level) and,
    for one member of a union keyed on a field (e.g. a per-backend settings model), that key."""

    path: str
    model: type[BaseModel]
    variant: str = ""


def model_sections(model: type[BaseModel] = ExperimentConfig, path: str = "",
                   variant: str = "") -> Iterator[Section]:
    """Every section model reachable from `model`, depth first, in declaration order."""
    yield Section(path, model, variant)
    for name, field in model.model_fields.items():
        beside = _flat_beside(field)
        if beside:  # options written flat in this section, one model per value of `beside`
            for value, member in getattr(model, f"{beside}_options")().items():
                yield Section(path, member, f"{beside}: {value}")
            continue
        members = _models_in(field.annotation)
        for member in members:
            key = _variant(member, field) if len(members) > 1 else ""
            yield from model_sections(member, f"{path}.{name}" if path else name, key)


def _flat_beside(field: FieldInfo) -> str | None:
    """The key whose value picks the model of options written flat beside it (a judge
    backend's own options sit beside `backend`), marked `json_schema_extra={"flat_beside": key}`."""
    extra = field.json_schema_extra
    return extra.get("flat_beside") if isinstance(extra, dict) else None  # type: ignore[return-value]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (`X`, `X | None`, `A | B`, `list[X]`...)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _variant(member: type[BaseModel], field: FieldInfo) -> str:
    """`key: value` naming one member of a union: its discriminator's literal, else its name."""
    key = field.discriminator if isinstance(field.discriminator, str) else None
    tag = member.model_fields.get(key) if key else None
    if tag is not None and get_origin(tag.annotation) is Literal:
        return f"{key}: " + " | ".join(str(v) for v in get_args(tag.annotation))
    return member.__name__


def type_name(annotation: Any) -> str:
    """The YAML type of an annotation: int, str, list of str, section, `int or null`..."""
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(sorted({_yaml_type(type(v)) for v in get_args(annotation)}))
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(type_name(a) for a in get_args(annotation)))
    if origin in (list, tuple, set):
        return "list of " + type_name(get_args(annotation)[0])
    if origin is dict:
        return "mapping"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "section"
    return _yaml_type(annotation)


def _yaml_type(cls: Any) -> str:
    names = {str: "str", int: "int", float: "float", bool: "bool"}
    return names.get(cls, getattr(cls, "__name__", str(cls)))


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in YAML; `required` when there is none."""
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{json.dumps(value)}`"


def allowed_text(annotation: Any, field: FieldInfo) -> str:
    """Literal choices and numeric/length/pattern bounds, e.g. `"fp32", "bf16-mixed"` or `> 0`."""
    parts = [", ".join(f"`{json.dumps(v)}`" for v in _literals(annotation))]
    symbols = {at.Gt: (">", "gt"), at.Ge: (">=", "ge"), at.Lt: ("<", "lt"), at.Le: ("<=", "le")}
    for meta in field.metadata:
        if type(meta) in symbols:
            sign, attr = symbols[type(meta)]
            parts.append(f"{sign} {getattr(meta, attr)}")
        elif isinstance(meta, at.MinLen):
            parts.append(f"at least {meta.min_length} item(s)")
        elif isinstance(meta, at.MaxLen):
            parts.append(f"at most {meta.max_length} item(s)")
        elif getattr(meta, "pattern", None):
            parts.append(f"matches `{meta.pattern}`")
    return "; ".join(p for p in parts if p)


def _literals(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [v for arg in get_args(annotation) for v in _literals(arg)]


def _cell(text: str) -> str:
    """Markdown-table-safe text: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def section_text(section: Section) -> str:
    """A heading, the model's docstring, and one row per key."""
    title = f"`{section.path}`" if section.path else "Top level"
    if section.variant:
        title += f" ({section.variant})"
    lines = [f"## {title}", ""]
    doc = section.model.__doc__
    if doc:
        lines += [inspect.cleandoc(doc), ""]
    lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for name, field in section.model.model_fields.items():
        if _flat_beside(field):
            continue
        key = f"{section.path}.{name}" if section.path else name
        cells = [f"`{key}`", type_name(field.annotation), default_text(field),
                 allowed_text(field.annotation, field), field.description or ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole of docs/config.md."""
    return "\n".join([HEADER, *(section_text(s) for s in model_sections())])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    parser.add_argument("--out", type=Path, default=Path(DOC_PATH))
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not args.out.is_file() or args.out.read_text(encoding="utf-8") != text
        print(f"{args.out}: {'stale, run `make config-docs`' if stale else 'up to date'}")
        return 1 if stale else 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
