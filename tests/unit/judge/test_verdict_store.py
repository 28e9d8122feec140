"""VerdictStore: roundtrip, reopen, two connections, kill-safety, storage errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpo.errors import StorageError
from judge.store import VerdictStore, request_key
from judge.types import JudgeRequest, Judgment, Verdict

ROOT = Path(__file__).resolve().parents[3]


def reqs(n: int, tag: str = "") -> list[JudgeRequest]:
    return [JudgeRequest(f"instr {i}{tag}", "" if i % 2 else "in", f"a{i}", f"b{i}") for i in range(n)]


def test_roundtrip_and_misses(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path / "v.sqlite")
    rs = reqs(3)
    js = [Judgment(Verdict.RESPONSE1, "1\n### Reason: r", "r", "ref"), Judgment(Verdict.TIE, "Tie"),
          Judgment(Verdict.INVALID, "??")]
    store.put_many("judgeA", rs[:2] + rs[2:], js)
    assert store.get_many("judgeA", rs) == js
    assert store.get_many("judgeB", rs) == [None, None, None]  # identities never mix
    assert store.get_many("judgeA", reqs(1, "x")) == [None]
    swapped = JudgeRequest(rs[0].instruction, rs[0].input, rs[0].response2, rs[0].response1)
    assert store.get_many("judgeA", [swapped]) == [None]  # order is part of the key
    assert store.count() == 3 and store.count("judgeA") == 3 and store.count("judgeB") == 0
    store.close()


def test_key_is_unambiguous() -> None:
    a = JudgeRequest("ab", "", "c", "d")
    b = JudgeRequest("a", "b", "c", "d")
    assert request_key("j", a) != request_key("j", b)
    assert request_key("j", a) == request_key("j", JudgeRequest("ab", "", "c", "d"))


def test_many_keys_and_replace(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path / "v.sqlite")
    rs = reqs(1200)  # more than one SELECT chunk
    store.put_many("j", rs, [Judgment(Verdict.RESPONSE2)] * len(rs))
    store.put_many("j", rs[:1], [Judgment(Verdict.TIE, "Tie")])
    got = store.get_many("j", rs)
    assert got[0] == Judgment(Verdict.TIE, "Tie") and all(g == Judgment(Verdict.RESPONSE2) for g in got[1:])
    assert store.count() == 1200
    rows = store.all_rows()
    assert len(rows) == 1200 and {"key", "identity", "verdict", "raw", "created", "response1"} <= set(rows[0])
    store.close()


def test_persists_across_reopen_and_two_connections(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "v.sqlite"
    first, second = VerdictStore(path), VerdictStore(path)
    first.put_many("j", reqs(2), [Judgment(Verdict.RESPONSE1), Judgment(Verdict.RESPONSE2)])
    assert second.get_many("j", reqs(2)) == [Judgment(Verdict.RESPONSE1), Judgment(Verdict.RESPONSE2)]
    second.put_many("j", reqs(1, "y"), [Judgment(Verdict.TIE)])
    assert first.count() == 3
    first.close()
    second.close()
    with VerdictStore(path) as again:
        assert again.count("j") == 3
        mode = again._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_mismatched_lengths(tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "v.sqlite") as store, pytest.raises(ValueError):
        store.put_many("j", reqs(2), [Judgment(Verdict.TIE)])


def test_unwritable_location_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot write"):
        VerdictStore(blocker / "v.sqlite")


def test_locked_database_is_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    store = VerdictStore(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(StorageError, match="locked"):
            store.put_many("j", reqs(1), [Judgment(Verdict.TIE)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.put_many("j", reqs(1), [Judgment(Verdict.TIE)])  # the store is still usable
    assert store.count() == 1
    store.close()


WRITER = textwrap.dedent("""
    import sys
    from judge.store import VerdictStore
    from judge.types import Judgment, JudgeRequest, Verdict
    store = VerdictStore(sys.argv[1])
    batch = 0
    while True:
        rs = [JudgeRequest(f"i{batch}-{k}", "", "a" * 2000, "b") for k in range(50)]
        store.put_many("j", rs, [Judgment(Verdict.RESPONSE1, "1")] * 50)
        print(batch, flush=True)
        batch += 1
""")


def test_sigkill_keeps_committed_batches(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    last = -1
    while last < 3 and time.monotonic() < deadline:
        last = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)  # mid-way through a later batch, most likely
    proc.wait()
    assert last >= 3
    with VerdictStore(path) as store:
        n = store.count("j")
        assert n >= 50 * (last + 1) and n % 50 == 0  # whole batches only: never a torn one
        committed = [JudgeRequest(f"i{b}-{k}", "", "a" * 2000, "b") for b in range(last + 1) for k in range(50)]
        assert all(j == Judgment(Verdict.RESPONSE1, "1") for j in store.get_many("j", committed))
