"""`judge eval`: metrics against PandaLM's human labels, checked by an independent computation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from hpo.errors import ConfigError
from judge.cli import main
from judge.evaluate import (
    INVALID,
    compute_metrics,
    evaluate_judge,
    evaluate_verdicts,
    load_testset,
    majority_label,
)
from judge.pairwise import PairwiseJudge
from judge.types import JudgeRequest, Judgment, Verdict

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "pandalm"
TESTSET, PANDA, GPT = (DATA / "testset-v1.json", DATA / "pandalm-7b-testset-v1.json",
                       DATA / "gpt-3.5-turbo-testset-v1.json")
needs_data = pytest.mark.skipif(not TESTSET.exists(), reason="PandaLM test set not present")


def independent(labels: Sequence[int], preds: Sequence[int]) -> dict[str, float]:
    """Confusion-matrix metrics written out by hand (as PandaLM's data/compute_metrics.py)."""
    cm = Counter(zip(labels, preds, strict=True))
    out = {"accuracy": sum(cm[(c, c)] for c in (0, 1, 2)) / len(labels)}
    ps, rs, fs = [], [], []
    for c in (0, 1, 2):
        tp = cm[(c, c)]
        fp = sum(cm[(t, c)] for t in (0, 1, 2)) - tp
        fn = sum(n for (t, _), n in cm.items() if t == c) - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        ps.append(p)
        rs.append(r)
        fs.append(2 * p * r / (p + r) if p + r else 0.0)
    out.update(precision=sum(ps) / 3, recall=sum(rs) / 3, f1=sum(fs) / 3)
    return out


def labels_and_preds(verdicts: Path, field: str, invalid_as_tie: bool) -> tuple[list[int], list[int]]:
    gt = json.loads(TESTSET.read_text())
    mo = json.loads(verdicts.read_text())
    labels = [Counter([g["annotator1"], g["annotator2"], g["annotator3"]]).most_common(1)[0][0] for g in gt]
    preds = []
    for m in mo:
        v = str(m[field])
        preds.append({"0": 0, "1": 1, "2": 2, "Tie": 0}.get(v, 0 if invalid_as_tie else INVALID))
    return labels, preds


@needs_data
@pytest.mark.parametrize(("path", "field", "ref"), [
    (PANDA, "pandalm_result", (0.6677, 0.5738, 0.5750, 0.5743)),
    (GPT, "gpt_result", (0.7107, 0.5879, 0.5736, 0.5755)),
])
def test_released_verdicts_reproduce_reference_numbers(path: Path, field: str, ref: tuple) -> None:
    testset = load_testset(TESTSET)
    got = evaluate_verdicts(testset, path, invalid_as_tie=True)
    want = independent(*labels_and_preds(path, field, invalid_as_tie=True))
    for key in ("accuracy", "precision", "recall", "f1"):
        assert getattr(got, key) == pytest.approx(want[key], abs=1e-12)
    # The numbers printed in PandaLM's data/compute_metrics.py.
    assert [round(x, 4) for x in (got.accuracy, got.precision, got.recall, got.f1)] == list(ref)


@needs_data
def test_invalid_counted_as_wrong() -> None:
    testset = load_testset(TESTSET)
    got = evaluate_verdicts(testset, GPT)
    labels, preds = labels_and_preds(GPT, "gpt_result", invalid_as_tie=False)
    want = independent(labels, preds)
    assert got.invalid_rate == pytest.approx(25 / 999)
    for key in ("accuracy", "precision", "recall", "f1"):
        assert getattr(got, key) == pytest.approx(want[key], abs=1e-12)
    assert round(got.accuracy, 4) == 0.6977 and round(got.kappa, 4) == 0.4755
    assert evaluate_verdicts(testset, PANDA).invalid_rate == 0.0


def test_majority_label() -> None:
    assert majority_label([1, 1, 2]) == 1
    assert majority_label([0, 2, 2]) == 2
    assert majority_label([2, 1, 0]) == 2  # full split: the first vote, as the reference


def test_compute_metrics_small() -> None:
    got = compute_metrics([1, 2, 0, 1], [1, 2, INVALID, 2])
    assert got.accuracy == 0.5 and got.invalid_rate == 0.25
    assert got.per_class_f1 == {"tie": 0.0, "1": pytest.approx(2 / 3), "2": pytest.approx(2 / 3)}
    assert "accuracy" in got.as_table() and "0.5000" in got.as_table()
    with pytest.raises(ConfigError):
        compute_metrics([1], [])


class OracleBackend:
    """Answers from a label table; `flip` makes it position-biased (always '1')."""

    identity = "oracle"

    def __init__(self, answers: dict[tuple[str, str], Verdict], always1: bool = False) -> None:
        self.answers, self.always1, self.calls = answers, always1, 0

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        self.calls += 1
        return [Judgment(Verdict.RESPONSE1 if self.always1 else self.answers[(r.response1, r.response2)])
                for r in requests]

    def close(self) -> None:
        pass


def tiny_testset() -> list[dict]:
    rows = [("a", "b", (1, 1, 2)), ("c", "d", (2, 2, 2)), ("e", "f", (0, 0, 1)), ("g", "h", (1, 0, 1))]
    return [{"instruction": f"q{i}", "input": "", "response1": r1, "response2": r2,
             "annotator1": a, "annotator2": b, "annotator3": c}
            for i, (r1, r2, (a, b, c)) in enumerate(rows)]


def oracle_answers(testset: list[dict]) -> dict[tuple[str, str], Verdict]:
    answers = {}
    for t in testset:
        label = majority_label([t["annotator1"], t["annotator2"], t["annotator3"]])
        fwd = {0: Verdict.TIE, 1: Verdict.RESPONSE1, 2: Verdict.RESPONSE2}[label]
        bwd = {0: Verdict.TIE, 1: Verdict.RESPONSE2, 2: Verdict.RESPONSE1}[label]
        answers[(t["response1"], t["response2"])] = fwd
        answers[(t["response2"], t["response1"])] = bwd
    return answers


def test_evaluate_judge_oracle_both_orders() -> None:
    ts = tiny_testset()
    backend = OracleBackend(oracle_answers(ts))
    judge = PairwiseJudge(backend)
    one = evaluate_judge(ts, judge)
    assert one.accuracy == 1.0 and one.swap_consistency is None
    both = evaluate_judge(ts, PairwiseJudge(backend), both_orders=True)
    assert both.accuracy == 1.0 and both.swap_consistency == 1.0 and both.order1_accuracy == 1.0
    assert both.kappa == 1.0 and "swap consistency" in both.as_table()


def test_evaluate_judge_position_biased() -> None:
    ts = tiny_testset()
    judge = PairwiseJudge(OracleBackend({}, always1=True))
    got = evaluate_judge(ts, judge, both_orders=True)
    assert got.swap_consistency == 0.0
    assert got.order1_accuracy == 0.5  # items 0 and 3 are labelled "1"
    assert got.accuracy == 0.25  # strict policy turns every conflict into a tie; item 2 is a tie


@needs_data
def test_cli_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["judge", "eval", "--testset", str(TESTSET), "--verdicts", str(PANDA)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "0.6677" in out
    assert main(["judge", "eval", "--testset", str(TESTSET), "--verdicts", str(GPT),
                 "--invalid-as-tie", "--limit", "999"]) == 0
    assert "0.7107" in capsys.readouterr().out


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.json")
    assert main(["judge", "eval", "--testset", missing, "--verdicts", missing]) == 2
    assert "test set not found" in capsys.readouterr().err
    ts = tmp_path / "ts.json"
    ts.write_text(json.dumps(tiny_testset()))
    assert main(["judge", "eval", "--testset", str(ts), "--backend", "nosuch"]) == 2
    assert "unknown judge backend" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["judge", "eval", "--testset", str(bad), "--verdicts", str(bad)]) == 2
    verdicts = tmp_path / "v.json"
    verdicts.write_text(json.dumps([{"idx": 0, "other": 1}]))
    assert main(["judge", "eval", "--testset", str(ts), "--verdicts", str(verdicts)]) == 2
    assert main(["judge", "eval", "--testset", str(ts), "--verdicts", str(verdicts), "--limit", "0"]) == 2


def test_heldout_decisive_accuracy_on_a_constructed_table() -> None:
    """Decisive pairs (label 1 or 2: one answer right, one wrong): the share the judge, both
    orders combined, calls in the right direction; ties and conflicts count as misses."""
    from judge.training.data import Pair
    from judge.training.heldout import evaluate_pairs

    r1, r2, tie = Verdict.RESPONSE1, Verdict.RESPONSE2, Verdict.TIE
    table = [("a", "b", 1, r1, r2),   # decisive, right
             ("c", "d", 2, tie, tie),  # decisive, tie: a miss
             ("e", "f", 1, r2, r1),   # decisive, wrong direction
             ("g", "h", 0, tie, tie),  # not decisive, right
             ("i", "j", 2, r2, r2)]   # decisive, order conflict -> strict tie: a miss
    answers = {}
    for x, y, _, fwd, bwd in table:
        answers[(x, y)], answers[(y, x)] = fwd, bwd
    pairs = [Pair("q", "", x, y, label) for x, y, label, _, _ in table]
    got = evaluate_pairs(pairs, PairwiseJudge(OracleBackend(answers)))
    assert got.accuracy == pytest.approx(2 / 5)
    assert got.decisive_accuracy == pytest.approx(1 / 4)
    assert "decisive accuracy" in got.as_table()
    ties_only = evaluate_pairs(pairs[3:4], PairwiseJudge(OracleBackend(answers)))
    assert ties_only.decisive_accuracy is None
