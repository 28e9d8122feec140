"""The logprobs verdict rule, the soft tie policy, the context-fit policy, the store schema.

All on crafted inputs: logits -> softmax -> (P("1"), P("2"), P("Tie"), top) -> verdict.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from hpo.errors import ConfigError
from judge.backends import check_tie_band, decoding_tag, max_tokens_for
from judge.fit import fit_request, prompt_of
from judge.pairwise import PairwiseJudge
from judge.parse import verdict_from_probs
from judge.policy import combine, combine_judgments, soft_probs
from judge.store import VerdictStore
from judge.types import ComparisonItem, JudgeRequest, Judgment, Verdict

R1, R2, T, X = Verdict.RESPONSE1, Verdict.RESPONSE2, Verdict.TIE, Verdict.INVALID
VOCAB, ONE, TWO, TIE = 8, 3, 4, 5  # a crafted 8-token vocabulary; ids of "1", "2", "Tie"


def from_logits(logits: list[float], tie_band: float = 0.0) -> Verdict:
    """What HFJudge does with the last position's logits."""
    full = torch.softmax(torch.tensor(logits, dtype=torch.float32), dim=-1)
    probs = (float(full[ONE]), float(full[TWO]), float(full[TIE]))
    return verdict_from_probs(probs, float(full.max()), tie_band)


@pytest.mark.parametrize(("logits", "band", "expected"), [
    ([0, 0, 0, 5, 1, 1, 0, 0], 0.0, R1),  # "1" is greedy
    ([0, 0, 0, 1, 5, 1, 0, 0], 0.0, R2),
    ([0, 0, 0, 1, 1, 5, 0, 0], 0.0, T),
    ([0, 0, 9, 5, 1, 1, 0, 0], 0.0, X),  # greedy would start with token 2: not PandaLM's format
    ([0, 0, 0, 3, 3, 1, 0, 0], 0.0, T),  # an exact draw between 1 and 2
    ([0, 0, 0, 2, 2, 2, 0, 0], 0.0, T),  # a three-way draw
    ([0, 0, 0, 3.0, 2.9, 0, 0, 0], 0.0, R1),  # close, no band: the argmax
    ([0, 0, 0, 3.0, 2.9, 0, 0, 0], 0.1, T),  # q1 - q2 ~ 0.05 <= 0.1: a close call is a tie
    ([0, 0, 0, 3.0, 1.0, 0, 0, 0], 0.1, R1),  # q1 - q2 ~ 0.64 > 0.1
    ([0, 0, 0, 1.0, 3.0, 2.9, 0, 0], 0.5, T),  # q2 - q1 ~ 0.4 <= 0.5
])
def test_verdict_rule_on_crafted_logits(logits: list[float], band: float, expected: Verdict) -> None:
    assert from_logits(logits, band) is expected


def test_verdict_rule_edges() -> None:
    assert verdict_from_probs((0.0, 0.0, 0.0), 0.0) is X  # none of the three was returned
    assert verdict_from_probs((0.2, 0.1, 0.0), 0.2) is R1  # top equal to P("1"): greedy is "1"
    assert verdict_from_probs((0.2, 0.1, 0.0), 0.21) is X
    # Renormalised over the three: 0.02 vs 0.01 of a tiny mass is still a clear 2:1 preference.
    assert verdict_from_probs((0.02, 0.01, 0.0), 0.02, tie_band=0.3) is R1
    assert verdict_from_probs((0.02, 0.01, 0.0), 0.02, tie_band=0.34) is T
    with pytest.raises(ConfigError, match=r"tie_band must be in \[0, 1\)"):
        check_tie_band(1.0)


def test_mode_defaults_and_identity_tags() -> None:
    assert max_tokens_for("logprobs", None) == 1 and max_tokens_for("faithful", None) == 512
    assert decoding_tag("logprobs", 1, 0.05) == "logprobs:band=0.05"
    assert decoding_tag("faithful", 512) == "faithful:beams=4:rep=1.2:early:max=512"
    assert decoding_tag("verdict", 4) != decoding_tag("verdict", 8)
    with pytest.raises(ConfigError, match="logprobs, faithful"):
        max_tokens_for("beam", None)


def J(verdict: Verdict, probs: tuple[float, float, float] | None = None) -> Judgment:
    return Judgment(verdict, probs=probs)


def test_soft_averages_both_orders() -> None:
    # Order AB says "1" at 0.6, order BA says "1" at 0.55: a judge biased toward position 1.
    ab, ba = J(R1, (0.6, 0.3, 0.1)), J(R1, (0.55, 0.35, 0.1))
    a, b, t = soft_probs(ab, ba)
    assert (round(a, 6), round(b, 6), round(t, 6)) == (0.475, 0.425, 0.1)
    assert combine_judgments(ab, ba, "soft") == 1  # A keeps a small edge after calibration
    assert combine_judgments(ab, ba, "strict") == 0  # strict calls it a conflict
    assert combine_judgments(ab, ba, "soft", tie_band=0.06) == 0  # within the band
    # Swapping the candidates swaps the orders and mirrors the outcome.
    assert combine_judgments(ba, ab, "soft") == -1


def test_soft_on_plain_verdicts_is_strict() -> None:
    for v_ab in (R1, R2, T, X):
        for v_ba in (R1, R2, T, X):
            assert combine(v_ab, v_ba, "soft") == combine(v_ab, v_ba, "strict"), (v_ab, v_ba)


def test_soft_invalid_is_none() -> None:
    assert combine_judgments(J(X), J(R1, (0.9, 0.1, 0.0)), "soft") is None


def words(text: str) -> int:
    return len(text.split())


def test_fit_leaves_a_fitting_prompt_alone() -> None:
    req = JudgeRequest("Say hi.", "", "hi there", "hello")
    assert fit_request(req, words, 1000) == (req, "")


def test_fit_cuts_both_responses_to_one_cap() -> None:
    req = JudgeRequest("Say hi.", "", "a " * 400, "b " * 30)
    base = words(prompt_of(JudgeRequest("Say hi.", "", "", "")))
    fitted = fit_request(req, words, base + 80)
    assert fitted is not None
    out, cut = fitted
    assert words(prompt_of(out)) <= base + 80
    assert cut == "1"  # only the long answer was cut; the short one is whole
    assert out.response2 == ("b " * 30).strip() and len(out.response1) < 800
    # The cap is the largest that fits: one more character would overflow.
    longer = JudgeRequest("Say hi.", "", ("a " * 400).strip()[: len(out.response1) + 1], out.response2)
    assert words(prompt_of(longer)) > base + 80


def test_fit_cuts_both_when_both_are_long_and_equally() -> None:
    req = JudgeRequest("Say hi.", "", "a " * 300, "b " * 300)
    base = words(prompt_of(JudgeRequest("Say hi.", "", "", "")))
    out, cut = fit_request(req, words, base + 20) or (req, "?")
    assert cut == "12" and len(out.response1) == len(out.response2)


def test_fit_refuses_when_the_fixed_part_overflows() -> None:
    assert fit_request(JudgeRequest("word " * 500, "", "a", "b"), words, 100) is None


OLD_SCHEMA = """CREATE TABLE verdicts (
  key TEXT PRIMARY KEY, identity TEXT NOT NULL, instruction TEXT NOT NULL,
  input TEXT NOT NULL, response1 TEXT NOT NULL, response2 TEXT NOT NULL,
  verdict TEXT NOT NULL, raw TEXT NOT NULL, reason TEXT NOT NULL,
  reference TEXT NOT NULL, created REAL NOT NULL)"""


def test_old_store_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(OLD_SCHEMA)
    db.execute("INSERT INTO verdicts VALUES ('k', 'vllm:m:verdict', 'i', '', 'a', 'b', '1', '1', '', '', 1.0)")
    db.commit()
    db.close()
    with VerdictStore(path) as store:
        assert store.bound_identity() is None
        assert [r["verdict"] for r in store.all_rows()] == ["1"] and store.all_rows()[0]["p1"] is None
        store.bind("vllm:m:logprobs:band=0")
        req = JudgeRequest("i", "", "a", "b")
        store.put_many("vllm:m:logprobs:band=0", [req], [Judgment(R2, "x", probs=(0.1, 0.7, 0.2), truncated="1")])
    with VerdictStore(path) as store:
        got = store.get_many("vllm:m:logprobs:band=0", [req])[0]
        assert got == Judgment(R2, "x", probs=(0.1, 0.7, 0.2), truncated="1")
        assert store.bound_identity() == "vllm:m:logprobs:band=0" and store.count() == 2


class ProbsBackend:
    identity = "probs-judge"

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        # Position-1 bias: "1" always most likely, the better (longer) answer gets a bit more.
        out = []
        for r in requests:
            p1 = 0.6 if len(r.response1) > len(r.response2) else 0.5
            out.append(Judgment(R1, probs=(p1, 1 - p1 - 0.1, 0.1)))
        return out

    def close(self) -> None:
        pass


def test_pairwise_soft_and_per_pair_conflicts(tmp_path: Path) -> None:
    items = [ComparisonItem("q", "", "long answer", "short"), ComparisonItem("r", "", "x", "longer x")]
    judge = PairwiseJudge(ProbsBackend(), VerdictStore(tmp_path / "v.sqlite"), policy="soft")
    assert judge.compare(items, pair=("c1", "c2")) == [1, -1]
    stats = judge.stats_dict()
    assert stats["pair_conflict_rate"] == {"c1 vs c2": 1.0}  # every item: "1" in both orders
    assert stats["per_candidate"] == {"c1": {"invalid": 0, "truncated": 0}, "c2": {"invalid": 0, "truncated": 0}}
    strict = PairwiseJudge(ProbsBackend(), policy="strict")
    assert strict.compare(items) == [0, 0]
