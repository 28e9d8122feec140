"""Load instruction examples from the synthetic suite, Alpaca/PandaLM JSON, JSONL or the HF hub.

Every error is a one-line `ConfigError` naming the file and, where it helps, the row or line.
Every example gets a stable `id`: the row's own `id`/`idx` when present, else its split and index.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from hpo.config.schema import DataConfig, read_text
from hpo.data import synthetic
from hpo.errors import ConfigError
from hpo.types import Example
from judge.atomic import atomic_write_text

Split = Literal["train", "validation"]
_META_KEYS = ("motivation_app",)


def load_examples(source: str, cfg: DataConfig, split: Split) -> list[Example]:
    """Examples of `split` from `source`: "synthetic", a .json/.jsonl path, or "hf:<dataset>[:<split>]"."""
    if source == "synthetic":
        s = cfg.synthetic
        train, validation = synthetic.generate(s.tasks, s.n_train, s.n_validation, s.seed)
        examples = train if split == "train" else validation
    elif source.startswith("hf:"):
        examples = _from_rows(_hf_rows(source, split), source, split)
    else:
        examples = _from_rows(_file_rows(Path(source)), source, split)
    limit = cfg.max_train_examples if split == "train" else cfg.max_validation_examples
    return examples[:limit] if limit else examples


def _file_rows(path: Path) -> list[Any]:
    """The rows of a JSON list or a JSONL file; one-line errors for a missing file, text that is
    not UTF-8, invalid JSON (JSONL: the first bad line and how many are bad) or deep nesting."""
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    text = read_text(path)
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of examples, got {type(data).__name__}")
    return data


def _jsonl_rows(path: Path, text: str) -> list[Any]:
    """Every line parsed in one pass; the error names the first bad line and counts them all."""
    rows, errors, lines = [], [], 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"{path}: line {n}: invalid JSON ({exc.msg})")
        except RecursionError:
            errors.append(f"{path}: line {n}: nested too deeply to read")
    if errors:
        raise ConfigError(f"{errors[0]}{_how_many(len(errors), lines, 'lines')}")
    return rows


def _how_many(bad: int, total: int, what: str) -> str:
    return f" ({bad} of {total} {what} are bad)" if bad > 1 else ""


def _from_rows(rows: list[Any], source: str, split: Split) -> list[Example]:
    """Every row checked in one pass: the error names the first bad row and counts them all."""
    if not rows:
        raise ConfigError(f"{source}: empty dataset (no examples for {split})")
    examples, errors = [], []
    for i, row in enumerate(rows):
        try:
            examples.append(_example(row, i, source, split))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError(f"{errors[0]}{_how_many(len(errors), len(rows), 'rows')}")
    dupe = first_duplicate(e.id for e in examples)
    if dupe is not None:
        raise ConfigError(f"{source}: duplicate example id {dupe!r}")
    return examples


def first_duplicate(ids: Iterable[str]) -> str | None:
    """The first id seen a second time, or None; one pass over the ids (a set of those seen)."""
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return None


def _example(row: Any, i: int, source: str, split: Split) -> Example:
    where = f"{source}: row {i + 1}"
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: expected an object, got {type(row).__name__}")
    instruction, inp = row.get("instruction"), row.get("input") or ""
    if not isinstance(instruction, str) or not instruction or not (instruction.strip() or str(inp).strip()):
        # A whitespace-only instruction with a real input is kept: PandaLM's own validation
        # file has one (row 162: instruction " ", input "Truthfulness").
        raise ConfigError(f"{where}: missing or empty 'instruction'")
    output = row.get("output")
    if output is not None and not isinstance(output, str):
        raise ConfigError(f"{where}: 'output' must be a string")
    if split == "train" and not output:
        raise ConfigError(f"{where}: training examples need a non-empty 'output'")
    raw_id = row.get("id", row.get("idx"))
    ex_id = str(raw_id) if raw_id is not None else f"{split[0]}{i:05d}"
    meta = {k: row[k] for k in _META_KEYS if k in row}
    if "task" in row:
        meta["task"] = row["task"]
    return Example(instruction, str(inp), output, id=ex_id, meta=meta)


def _hf_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe, so an offline machine fails in seconds instead of retrying for minutes."""
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hf_rows(source: str, split: Split) -> list[Any]:
    """Rows of "hf:<dataset>[:<split>]" via `datasets.load_dataset` (offline: local cache only)."""
    _, _, rest = source.partition(":")
    name, _, hf_split = rest.partition(":")
    if not name:
        raise ConfigError(f"{source}: expected hf:<dataset>[:<split>]")
    if not _hf_offline() and not Path(name).exists() and not _hub_reachable():
        raise ConfigError(f"{source}: the Hugging Face hub is unreachable; set HF_HUB_OFFLINE=1 to use "
                          "the local datasets cache, or pass a local JSON/JSONL file")
    import datasets

    try:
        ds = datasets.load_dataset(name, split=hf_split or "train")
    except Exception as exc:  # datasets raises many types; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{source}: cannot load dataset ({first})") from None
    return [dict(row) for row in ds]


def write_jsonl(examples: list[Example], path: Path) -> None:
    """Write examples as JSONL atomically (the stage-inputs stage writes data into the run folder)."""
    lines = [json.dumps({"id": e.id, "instruction": e.instruction, "input": e.input,
                         "output": e.output, "meta": e.meta}, ensure_ascii=False) for e in examples]
    atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))


def read_jsonl(path: Path) -> list[Example]:
    """Read examples written by `write_jsonl` (ids and meta preserved)."""
    rows = _file_rows(Path(path))
    return [Example(r["instruction"], r.get("input") or "", r.get("output"), id=str(r["id"]),
                    meta=r.get("meta") or {}) for r in rows]
