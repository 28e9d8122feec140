"""Reading a file of JSON objects: a JSON list, or JSON Lines when the name ends in `.jsonl`.

Shared by the judge's evaluation (PandaLM's test set, verdict files) and its training data
(PandaLM-format pairs), so both accept the same formats and fail the same way: one line that
names the file, raised as the caller's own error type (each has its own exit code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_records(path: Path, what: str, error: type[Exception]) -> list[dict[str, Any]]:
    """The objects in `path`; `error(message)` when it cannot be read or is not a list of
    objects (`what` names the file's role in the message: "test set", "training pairs")."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        if Path(path).suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    except RecursionError:
        raise error(f"cannot read {what} {path}: nested too deeply") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise error(f"{what} {path} must be a list of JSON objects")
    return data
