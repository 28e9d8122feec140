"""A crash-safe, multi-process verdict store: sqlite in WAL mode.

Every single-order judgment is committed here before anyone uses it, so a killed run
resumes without paying for a judgment twice. The key hashes the judge identity and the
request; the order is part of the request (which answer is response1).

A store belongs to one judge: the first PairwiseJudge to use it binds its identity (which
names backend, model and decoding), and a judge with another identity is refused
with one line, so a resumed run can never mix verdicts of two judges. Stores written before
these columns existed open as they are: the missing columns are added (NULL for old rows)
and the binding is made on first use; their old rows stay readable for audit.
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
_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
# Added after the first release: (column, type), NULL in older rows.
_EXTRA = (("p1", "REAL"), ("p2", "REAL"), ("ptie", "REAL"), ("truncated", "TEXT"))
_CHUNK = 500  # keys per SELECT, well under sqlite's bound-variable limit
COLUMNS = ("key", "identity", "instruction", "input", "response1", "response2",
           "verdict", "raw", "reason", "reference", "created", "p1", "p2", "ptie", "truncated")
# Older vLLM judge identities ended in ":w=<the server's local weights path>"; a store bound
# that way belongs to the same judge as the identity before the suffix (taken over in `bind`).
_WEIGHTS_SUFFIX = ":w="


class StoreIdentityError(StorageError):
    """The store holds another judge's verdicts: bad input (exit 2), nothing is written."""

    exit_code = 2


def request_key(identity: str, request: JudgeRequest) -> str:
    """sha256 of the judge identity and the request fields, unambiguously serialised."""
    fields = [identity, request.instruction, request.input, request.response1, request.response2]
    blob = json.dumps([as_text(f) for f in fields], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _sqlite_error(path: Path, exc: sqlite3.Error) -> StorageError:
    return StorageError(f"cannot write {path}: {exc}")


def _rekey(db: sqlite3.Connection, old: str, new: str) -> None:
    """Move every verdict of identity `old` to `new` (keys recomputed from the stored request
    fields) and bind the store to `new`, inside the caller's transaction."""
    rows = db.execute("SELECT key, instruction, input, response1, response2 FROM verdicts "
                      "WHERE identity=?", (old,)).fetchall()
    for key, *fields in rows:
        db.execute("UPDATE OR REPLACE verdicts SET key=?, identity=? WHERE key=?",
                   (request_key(new, JudgeRequest(*fields)), new, key))
    db.execute("UPDATE meta SET value=? WHERE name='judge'", (new,))


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
            self._db.execute(_META)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(verdicts)")}
            for name, kind in _EXTRA:
                if name not in have:
                    self._db.execute(f"ALTER TABLE verdicts ADD COLUMN {name} {kind}")
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

    def bind(self, identity: str) -> None:
        """Make this the store of judge `identity`; StoreIdentityError if it is another's."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE name='judge'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('judge', ?)", (identity,))
                return
            if identity.startswith("vllm:") and str(row[0]).startswith(identity + _WEIGHTS_SUFFIX):
                _rekey(db, str(row[0]), identity)
                return
        if row[0] != identity:
            raise StoreIdentityError(
                f"verdict store {self.path} holds verdicts of judge '{row[0]}', not of this judge "
                f"'{identity}'; use another store (a new run folder) or the same judge settings")

    def bound_identity(self) -> str | None:
        """The judge this store belongs to, None if none is bound yet (a new or an old store)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name='judge'").fetchone()
        return None if row is None else str(row[0])

    def get_many(self, identity: str, requests: Sequence[JudgeRequest]) -> list[Judgment | None]:
        """Stored judgments for `requests`, in order; None where not stored yet."""
        keys = [request_key(identity, r) for r in requests]
        found: dict[str, Judgment] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, verdict, raw, reason, reference, p1, p2, ptie, truncated "
                    f"FROM verdicts WHERE key IN ({marks})", chunk)
                for key, verdict, raw, reason, ref, p1, p2, pt, cut in rows:
                    probs = None if p1 is None else (float(p1), float(p2), float(pt))
                    found[key] = Judgment(Verdict(verdict), raw, reason, ref, probs, cut or "")
        return [found.get(k) for k in keys]

    def put_many(self, identity: str, requests: Sequence[JudgeRequest],
                 judgments: Sequence[Judgment]) -> None:
        """Store all judgments in one transaction, committed (durably) before returning."""
        if len(requests) != len(judgments):
            raise ValueError(f"{len(requests)} requests but {len(judgments)} judgments")
        now = time.time()
        rows = [(request_key(identity, r), identity, as_text(r.instruction), as_text(r.input),
                 as_text(r.response1), as_text(r.response2), j.verdict.value, j.raw, j.reason,
                 j.reference, now, *(j.probs or (None, None, None)), j.truncated)
                for r, j in zip(requests, judgments, strict=True)]
        with self._transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO verdicts ({', '.join(COLUMNS)}) "
                           f"VALUES ({','.join('?' * len(COLUMNS))})", rows)

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
