"""The vLLM judge's store identity names the judge by its served model name and decoding
settings, never the server's local weights path: a server restarted from another folder, or a
replica whose weights sit elsewhere, resumes the same verdict store, and `hpo judge eval
--store` binds the identity `hpo run` binds. Stores bound by the older form (with the weights
path) are taken over on first use, their verdicts kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.cli import main  # noqa: E402
from hpo.config.schema import JudgeConfig  # noqa: E402
from hpo.tournament.comparator import build_backend  # noqa: E402
from judge.backends.vllm import VLLMJudge  # noqa: E402
from judge.store import StoreIdentityError, VerdictStore  # noqa: E402
from judge.types import JudgeRequest, Judgment, Verdict  # noqa: E402
from tests.helpers.openai_stub import OpenAIStub  # noqa: E402

ITEM = {"instruction": "Reverse", "input": "abc", "response1": "cba", "response2": "abc",
        "annotator1": 1, "annotator2": 1, "annotator3": 1}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub(model="stub-judge").start()  # its /v1/models card has root /models/stub-judge
    try:
        yield server
    finally:
        server.stop()


def test_identity_has_no_weights_path_and_survives_the_startup_check(stub: OpenAIStub) -> None:
    judge = VLLMJudge("stub-judge", url=stub.url, mode="logprobs", tie_band=0.1)
    before = judge.identity
    judge.check_reachable()
    try:
        assert judge.identity == before, judge.identity
        assert "/models/" not in judge.identity and judge.identity.startswith("vllm:stub-judge:")
    finally:
        judge.close()


def test_judge_eval_store_binds_the_identity_hpo_run_binds(stub: OpenAIStub, tmp_path: Path) -> None:
    run_backend = build_backend(JudgeConfig(backend="vllm", model="stub-judge", url=stub.url), [])
    run_backend.close()
    testset, store = tmp_path / "testset.json", tmp_path / "verdicts.sqlite"
    testset.write_text(json.dumps([ITEM]))
    assert main(["judge", "eval", "--testset", str(testset), "--backend", "vllm", "--model", "stub-judge",
                 "--url", stub.url, "--store", str(store)]) == 0
    with VerdictStore(store) as s:
        assert s.bound_identity() == run_backend.identity


def test_a_store_bound_with_the_weights_path_is_taken_over(tmp_path: Path) -> None:
    new = VLLMJudge("stub-judge", mode="verdict").identity
    old = f"{new}:w=/old/weights/folder"
    request, verdict = JudgeRequest("Reverse", "abc", "cba", "abc"), Judgment(Verdict.RESPONSE1, "1", "", "")
    with VerdictStore(tmp_path / "v.sqlite") as store:
        store.bind(old)
        store.put_many(old, [request], [verdict])
    with VerdictStore(tmp_path / "v.sqlite") as store:
        store.bind(new)
        assert store.bound_identity() == new
        assert store.get_many(new, [request]) == [verdict] and store.count(new) == 1
        with pytest.raises(StoreIdentityError):  # another judge is still refused
            store.bind(VLLMJudge("other-judge").identity)
