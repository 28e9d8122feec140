"""A crash-safe, multi-process verdict store: sqlite in WAL mode.

Every single-order judgment is committed here before anyone uses it, so a killed run
resumes without paying for a judgment twice. The key hashes the judge identity and the
request; the order is part of the request (which answer is response1).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from judge.atomic import storage_error
from judge.errors import StorageError
from judge.prompt import as_text
from judge.types import JudgeRequest, Judgment, Verdict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
  key TEXT PRIMARY KEY, identity TEXT NOT NULL, instruction TEXT NOT NULL,
  input TEXT NOT NULL, response1 TEXT NOT NULL, response2 TEXT NOT NULL,
  verdict TEXT NOT NULL, raw TEXT NOT NULL, reason TEXT NOT NULL,
  reference TEXT NOT NULL, created REAL NOT NULL)
"""
_CHUNK = 500  # keys per SELECT, well under sqlite's bound-variable limit
COLUMNS = ("key", "identity", "instruction", "input", "response1", "response2",
           "verdict", "raw", "reason", "reference", "created")


def request_key(identity: str, request: JudgeRequest) -> str:
    """sha256 of the judge identity and the request fields, unambiguously serialised."""
    fields = [identity, request.instruction, request.input, request.response1, request.response2]
    blob = json.dumps([as_text(f) for f in fields], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _sqlite_error(path: Path, exc: sqlite3.Error) -> StorageError:
    return StorageError(f"cannot write {path}: {exc}")


class VerdictStore:
    """Judgments keyed by (judge identity, request). Safe to share between processes."""

    def __init__(self, path: Path, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except OSError as exc:
            raise storage_error(self.path, exc) from exc
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back and turned into StorageError on failure."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _sqlite_error(self.path, exc) from exc

    def get_many(self, identity: str, requests: Sequence[JudgeRequest]) -> list[Judgment | None]:
        """Stored judgments for `requests`, in order; None where not stored yet."""
        keys = [request_key(identity, r) for r in requests]
        found: dict[str, Judgment] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, verdict, raw, reason, reference FROM verdicts WHERE key IN ({marks})",
                    chunk)
                for key, verdict, raw, reason, ref in rows:
                    found[key] = Judgment(Verdict(verdict), raw, reason, ref)
        return [found.get(k) for k in keys]

    def put_many(self, identity: str, requests: Sequence[JudgeRequest],
                 judgments: Sequence[Judgment]) -> None:
        """Store all judgments in one transaction, committed (durably) before returning."""
        if len(requests) != len(judgments):
            raise ValueError(f"{len(requests)} requests but {len(judgments)} judgments")
        now = time.time()
        rows = [(request_key(identity, r), identity, as_text(r.instruction), as_text(r.input),
                 as_text(r.response1), as_text(r.response2), j.verdict.value, j.raw, j.reason,
                 j.reference, now) for r, j in zip(requests, judgments, strict=True)]
        with self._transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO verdicts VALUES ({','.join('?' * 11)})", rows)

    def count(self, identity: str | None = None) -> int:
        """Number of stored judgments, of one judge or of all."""
        with self._lock:
            if identity is None:
                row = self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()
            else:
                row = self._db.execute("SELECT COUNT(*) FROM verdicts WHERE identity=?",
                                       (identity,)).fetchone()
        return int(row[0])

    def all_rows(self) -> list[dict[str, Any]]:
        """Every stored judgment with its request, oldest first, for audit and export."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM verdicts ORDER BY created, key").fetchall()
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
