"""Two real judge servers behind one `judge.url` list; one dies mid-tournament, then comes back.

A blocked tournament over 8 candidates runs through the real client stack (VLLMJudge ->
PairwiseJudge -> VerdictStore) against two scripted OpenAI servers. Replica A is stopped once
both have served; the tournament must finish with every judgment stored, and no stored
judgment may be asked for again. Then A comes back on its port and gets requests again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hpo.tournament.comparator import AnswerMatchJudge
from hpo.tournament.strategies.blocked import BlockedOptions, BlockedStrategy
from hpo.types import Example
from judge.backends.replicas import ReplicaPool
from judge.backends.vllm import VLLMJudge, _Retry
from judge.pairwise import PairwiseJudge
from judge.store import VerdictStore
from tests.helpers.openai_stub import OpenAIStub
from tests.helpers.procs import prefer_longer

pytestmark = pytest.mark.integration

N_ITEMS = 12


def _answers(n: int, salt: str) -> dict[str, list[str]]:
    """Candidate c answers item i with a string whose length depends on (c, i): a real ranking."""
    return {f"{salt}c{c}": [("x" * ((c * 7 + i * 3) % 11)) + f"{salt}{c}.{i}" for i in range(N_ITEMS)]
            for c in range(n)}


def _tournament(judge: VLLMJudge, store: VerdictStore, answers: dict[str, list[str]]) -> str:
    examples = [Example(id=f"v{i}", instruction=f"task {i}", input="", output=None) for i in range(N_ITEMS)]
    pairwise = PairwiseJudge(judge, store)
    match = AnswerMatchJudge(answers, examples, pairwise)
    return BlockedStrategy(BlockedOptions(blocks=2, early_decision=False)).run(sorted(answers), match, seed=0).winner


def _prompts(stub: OpenAIStub) -> list[str]:
    return [str(r.body.get("prompt")) for r in stub.completions()]


def test_replica_dies_mid_tournament_then_comes_back(tmp_path: Path) -> None:
    a, b = OpenAIStub().start(), OpenAIStub().start()
    for stub in (a, b):
        stub.answer = lambda prompt: prefer_longer(prompt, 0.005)
    judge = VLLMJudge(model=a.model, url=[a.url, b.url], concurrency=4, deadline_s=60)
    judge._pool = ReplicaPool([a.url, b.url], cooldown_s=0.3, max_cooldown_s=1.0)  # CI-sized
    store = VerdictStore(tmp_path / "verdicts.sqlite")
    killed: dict[str, int] = {}

    def kill_a_when_both_served() -> None:
        while not (len(a.completions()) >= 20 and len(b.completions()) >= 20):
            threading.Event().wait(0.01)
        a.stop()  # counted after the stop: a request A was serving as it stopped counts as served
        killed["a"], killed["b"] = len(a.completions()), len(b.completions())

    killer = threading.Thread(target=kill_a_when_both_served, daemon=True)
    killer.start()
    try:
        judge.check_reachable()
        answers = _answers(8, "r1")
        winner = _tournament(judge, store, answers)
        killer.join(timeout=5)
        assert killed, "replica A was never stopped: the tournament ended too soon"
        assert killed["a"] > 0 and killed["b"] > 0  # both served before the kill
        assert len(a.completions()) == killed["a"]  # nothing reached A after it died
        asked = Counter(_prompts(a) + _prompts(b))
        stored = store.count()
        assert stored == len(asked), (stored, len(asked))  # 0 lost: every distinct request stored
        repeats = {p: n for p, n in asked.items() if n > 1}
        # A repeat is only a request A received but never answered (in flight when it died):
        assert len(repeats) <= judge._concurrency and all(n == 2 for n in repeats.values())
        assert all(p in _prompts(a) for p in repeats)
        print(f"served before the kill A={killed['a']} B={killed['b']}; after: B={len(b.completions())}; "
              f"stored {stored}; re-sent after the kill {len(repeats)}")
        assert winner == _tournament(judge, store, answers)  # again: all from the store
        assert sum(asked.values()) == len(a.completions()) + len(b.completions())  # 0 re-asked

        a.start()  # A comes back on the same port and is used again once its cool-down is over
        deadline = time.monotonic() + 5  # (at most max_cooldown_s; a tournament can be quicker)
        while judge._pool.live() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(a.completions())
        _tournament(judge, store, _answers(6, "r2"))
        assert len(a.completions()) > before
    finally:
        judge.close()
        store.close()
        a.stop()
        b.stop()


def test_tokenizer_calls_move_past_a_dead_replica() -> None:
    """Fitting an over-long prompt counts tokens with /tokenize: with the first replica down,
    the count comes from the next one, not a failure (which would make the item invalid)."""
    a, b = OpenAIStub().start(), OpenAIStub().start()
    b.max_model_len = 64
    a.stop()
    judge = VLLMJudge(model=b.model, url=[a.url, b.url], concurrency=1, deadline_s=10)
    try:
        assert judge._call("/tokenize", {"prompt": "abc"})["count"] == 3
        b.stop()
        # all replicas down: a transient failure (retried until the deadline, never stored)
        with pytest.raises(_Retry, match="no judge replica reachable"):
            judge._call("/tokenize", {"prompt": "abc"})
    finally:
        judge.close()
        b.stop()
