"""judge.training: target format, swap augmentation, loss masking, tokenizer, pair loading,
and the synthetic pairs' label rule and disjointness from the run's validation instructions."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from hpo.config.schema import load_config
from hpo.data import synthetic
from hpo.data.pairs import build_splits, wrong_answer
from judge.prompt import build_prompt, build_training_target
from judge.training.data import (
    Pair,
    TrainingDataError,
    drop_references,
    load_pairs,
    prompt_text,
    swap_augment,
    target_text,
)
from judge.training.tokenizer import build_tokenizer
from judge.training.trainer import IGNORE, encode, encode_all, lr_lambda

REPO = Path(__file__).resolve().parents[3]
PAIR = Pair("Add the numbers.", "12 34", "46", "45", 1, reason="1 is right", reference="46")


def test_target_is_pandalm_training_text_byte_for_byte() -> None:
    assert target_text(PAIR) == build_training_target("1", "1 is right", "46")
    assert target_text(PAIR) == "1\n\n### Reason: 1 is right\n\n### Reference: 46\n"
    tie = Pair("i", "", "a", "a", 0, reference="a")
    assert target_text(tie) == "Tie\n\n### Reference: a\n"
    assert target_text(Pair("i", "", "a", "b", 2)) == "2\n"


def test_prompt_is_the_pandalm_prompt_and_never_shows_the_reference() -> None:
    assert prompt_text(PAIR) == build_prompt("Add the numbers.", "12 34", "46", "45")
    assert "### Reference" not in prompt_text(PAIR)


def test_swap_augmentation_has_both_orders_with_mirrored_labels() -> None:
    pairs = [PAIR, Pair("i", "x", "a", "b", 2), Pair("i", "y", "c", "d", 0)]
    out = swap_augment(pairs)
    assert len(out) == 6
    for original, (first, second) in zip(pairs, zip(out[::2], out[1::2], strict=True), strict=True):
        assert first == original
        assert (second.response1, second.response2) == (original.response2, original.response1)
        assert second.label == {1: 2, 2: 1, 0: 0}[original.label]
        assert second.reference == original.reference


def test_swap_mirrors_the_reasons_mentions_of_the_two_responses() -> None:
    pair = Pair("i", "", "a", "b", 1, reason="Response 1 right, Response 2 wrong.")
    assert swap_augment([pair])[1].reason == "Response 2 right, Response 1 wrong."
    assert swap_augment([PAIR])[1].reason == PAIR.reason  # no mention: unchanged


def test_synthetic_reasons_say_which_response_is_right_in_either_order() -> None:
    train, held_out = build_splits(300, 30, seed=0)
    for p in swap_augment(train + held_out):
        verdicts = {k: "right" if r == p.reference else "wrong" for k, r in ((1, p.response1), (2, p.response2))}
        mentioned = dict(part.strip(" .").split(" ")[1:] for part in p.reason.split(","))
        assert {int(k): v for k, v in mentioned.items()} == verdicts, p


def test_reference_drop_blanks_about_the_rate() -> None:
    dropped = drop_references([PAIR] * 1000, 0.3, seed=1)
    blank = sum(p.reference == "" for p in dropped)
    assert 240 < blank < 360
    assert drop_references([PAIR] * 10, 0.0, seed=1) == [PAIR] * 10


def test_loss_is_on_the_target_only() -> None:
    tok = build_tokenizer(["Add the numbers."])
    enc = encode(PAIR, tok, max_length=512)
    n_prompt = sum(label == IGNORE for label in enc.labels)
    assert enc.input_ids[:n_prompt] == tok(prompt_text(PAIR), add_special_tokens=False)["input_ids"]
    target = [t for t in enc.labels if t != IGNORE]
    assert tok.decode(target[:-1]) == target_text(PAIR) and target[-1] == tok.eos_token_id
    assert encode_all([PAIR], tok, 512) == [enc]


def test_tokenizer_round_trips_and_keeps_responses_one_char_per_token() -> None:
    tok = build_tokenizer(["Sort the letters."])
    text = build_prompt("Sort the letters.", "dcba", "abcd", "abdc")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < 25  # the template costs a handful of tokens
    assert tok.decode(tok("Tie\n")["input_ids"], skip_special_tokens=True) == "Tie\n"


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    assert lr_lambda(0, 10, 100) == pytest.approx(0.1)
    assert lr_lambda(10, 10, 100) == pytest.approx(1.0)
    assert lr_lambda(100, 10, 100) == pytest.approx(0.0)


def test_load_pairs_json_jsonl_and_errors(tmp_path: Path) -> None:
    rec = {"instruction": "i", "input": "", "response1": "a", "response2": "b", "label": 2}
    (tmp_path / "p.json").write_text(json.dumps([rec]))
    (tmp_path / "p.jsonl").write_text(json.dumps({**rec, "label": "Tie"}) + "\n")
    assert load_pairs(tmp_path / "p.json")[0].label == 2
    assert load_pairs(tmp_path / "p.jsonl")[0].label == 0
    (tmp_path / "bad.json").write_text(json.dumps([{**rec, "label": 3}]))
    with pytest.raises(TrainingDataError, match="item 0: label must be"):
        load_pairs(tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text(json.dumps([{"instruction": "i"}]))
    with pytest.raises(TrainingDataError, match="missing response1, response2, label"):
        load_pairs(tmp_path / "missing.json")


def test_synthetic_labels_follow_the_rule() -> None:
    train, _ = build_splits(600, 10, seed=0)
    for p in train:
        right1, right2 = p.response1 == p.reference, p.response2 == p.reference
        expected = 0 if right1 == right2 else (1 if right1 else 2)
        assert p.label == expected, p
    labels = Counter(p.label for p in swap_augment(train))
    assert all(abs(labels[k] / len(train) / 2 - 1 / 3) < 0.05 for k in (0, 1, 2))


def test_wrong_answers_are_never_right() -> None:
    import random
    rng = random.Random(0)
    for _ in range(500):
        task = rng.choice(list(synthetic.TASKS))
        _, inp, answer = synthetic.TASKS[task](rng)
        assert wrong_answer(task, inp, answer, rng).strip() != answer


def test_judge_training_instructions_are_disjoint_from_the_runs_validation() -> None:
    """The tiny experiments' validation (seed 0 and the other excluded seeds) never appears in
    the judge's training or held-out pairs, and the held-out pairs are not trained on."""
    train, held = build_splits(20000, 600, seed=0)
    train_keys = {(p.instruction, p.input) for p in train}
    held_keys = {(p.instruction, p.input) for p in held}
    assert not train_keys & held_keys
    cfg = load_config(REPO / "experiments" / "tiny-cpu.yaml").data.synthetic
    for seed in (cfg.seed, 1, 2, 9):
        _, validation = synthetic.generate(cfg.tasks, cfg.n_train, cfg.n_validation, seed)
        val_keys = {(e.instruction, e.input) for e in validation}
        assert not val_keys & train_keys and not val_keys & held_keys


def test_save_pairs_round_trips_empty_responses(tmp_path: Path) -> None:
    from judge.training.data import save_pairs
    pairs = [Pair("i", "", "", "b", 2), PAIR, Pair("i", "x", "a", "", 1, meta="k")]
    save_pairs(pairs, tmp_path / "p.jsonl")
    assert load_pairs(tmp_path / "p.jsonl") == pairs


def test_open_family_pairs_are_labelled_by_the_checker() -> None:
    """With the open-answer families, "right" is the family's checker: two different right
    answers are a Tie, and every wrong response is one the checker rejects."""
    from hpo.data.pairs import synthetic_source
    data = synthetic_source(3000, 60, 0, tasks=list(synthetic.OPEN_TASKS))
    train, held = data.train, data.held_out
    assert synthetic.ANY_ORDER in data.pieces and data.card["tasks"] == list(synthetic.OPEN_TASKS)
    differing_ties = 0
    for p in [*train, *held]:
        check = synthetic.CHECKS[p.instruction]
        right1, right2 = check(p.input, p.response1.strip()), check(p.input, p.response2.strip())
        assert p.label == (0 if right1 == right2 else (1 if right1 else 2)), p
        differing_ties += right1 and right2 and p.response1 != p.response2
    assert differing_ties > 100  # both right yet different strings: the judge must check, not match


def test_open_family_wrong_answers_are_never_right() -> None:
    import random
    rng = random.Random(0)
    for _ in range(1000):
        task = rng.choice(list(synthetic.OPEN_TASKS))
        instruction, inp, answer = synthetic.OPEN_TASKS[task](rng)
        wrong = wrong_answer(task, inp, answer, rng, instruction)
        assert not synthetic.CHECKS[instruction](inp, wrong.strip()), (instruction, inp, wrong)


def test_unknown_synthetic_task_is_refused() -> None:
    from hpo.data.pairs import synthetic_source
    with pytest.raises(ValueError, match="valid: reverse"):
        synthetic_source(10, 5, 0, tasks=["revers"])


def test_demo_is_the_judge_layout_with_loss_on_the_two_answers_only() -> None:
    from judge.training.data import Demo
    from judge.training.trainer import encode_demos
    tok = build_tokenizer(["Reverse the string."])
    demo = Demo("Reverse the string.", "abcd", "dcba")
    (enc,) = encode_demos([demo], tok)
    whole = build_prompt(demo.instruction, demo.input, "dcba", "dcba")
    assert enc.input_ids == tok(whole.removesuffix("\n\n### Evaluation:\n"), add_special_tokens=False)["input_ids"]
    answer = tok("dcba", add_special_tokens=False)["input_ids"]
    assert [t for t in enc.labels if t != IGNORE] == answer + answer
    assert enc.labels[-len(answer):] == answer


def test_demos_avoid_held_out_and_validation_and_follow_the_fraction() -> None:
    from hpo.data.pairs import EXCLUDE_SEEDS, synthetic_source, validation_keys
    from judge.training.cli import n_demos
    assert n_demos(200, 1 / 3) == 100 and n_demos(200, 0.0) == 0
    with pytest.raises(ValueError, match="solve-fraction"):
        n_demos(10, 1.0)
    data = synthetic_source(300, 40, 0, n_demos=2000)
    keys = {(d.instruction, d.input) for d in data.demos}
    assert len(data.demos) == 2000 and len({d.instruction for d in data.demos}) > 5
    assert not keys & {(p.instruction, p.input) for p in data.held_out}
    assert not keys & validation_keys(EXCLUDE_SEEDS, tuple(synthetic.TASKS))
    assert all(synthetic.is_correct(d.answer, synthetic.Example(d.instruction, d.input, d.answer))
               for d in data.demos)


def test_task_weights_shift_the_training_mix_and_leave_the_held_out_split_even() -> None:
    from collections import Counter

    from hpo.data.pairs import synthetic_source, task_weights
    even = synthetic_source(900, 50, 0, n_demos=90)
    weighted = synthetic_source(900, 50, 0, ["reverse=2", "uppercase=2", "add=3", "sort", "count"],
                                n_demos=90)
    family = lambda meta: meta.split(":")[0]  # noqa: E731
    assert Counter(family(p.meta) for p in weighted.train) == {
        "add": 300, "reverse": 200, "uppercase": 200, "sort": 100, "count": 100}
    assert Counter(d.instruction for d in weighted.demos)["Add the numbers."] == 30
    # the families in the default order: the same even held-out split, to compare builds on
    assert weighted.held_out == even.held_out
    assert weighted.card["task_weights"]["add"] == 3 and "task_weights" not in even.card
    assert task_weights(["add", "sort"]) == {"add": 1, "sort": 1}
    for bad in ("add=0", "add=x", "add=1.5"):
        with pytest.raises(ValueError, match="whole number"):
            task_weights([bad])


def test_shape_flags_reshape_the_tiny_recipe_and_are_refused_for_a_base_model() -> None:
    import argparse

    from judge.training.cli import _shaped
    from judge.training.recipes import get_recipe
    args = argparse.Namespace(layers=6, hidden_size=None, heads=None)
    deep = _shaped(get_recipe("tiny"), args)
    assert (deep.shape.num_layers, deep.shape.hidden_size, deep.shape.num_heads) == (6, 128, 4)
    assert _shaped(get_recipe("tiny"), argparse.Namespace(layers=None, hidden_size=None,
                                                          heads=None)) == get_recipe("tiny")
    with pytest.raises(ValueError, match="fine-tunes --model"):
        _shaped(get_recipe("pandalm"), args)
    with pytest.raises(ValueError, match="head dimension"):
        _shaped(get_recipe("tiny"), argparse.Namespace(layers=None, hidden_size=128, heads=8))
    with pytest.raises(ValueError, match="must be >= 1"):
        _shaped(get_recipe("tiny"), argparse.Namespace(layers=0, hidden_size=None, heads=None))


def test_near_miss_share_makes_training_wrong_answers_same_length_and_keeps_the_held_out_split() -> None:
    from hpo.data.pairs import same_length_miss, synthetic_source
    rng = random.Random(0)
    for answer in ("136", "GFFDH", "gbe", "aab", "7"):
        miss = same_length_miss(answer, rng)
        assert miss != answer
        if answer.isdigit():
            assert abs(int(miss) - int(answer)) in (1, 10) or miss == "0"
        else:
            assert len(miss) == len(answer) and sum(a != b for a, b in zip(miss, answer, strict=True)) in (1, 2)
    usual, hard = synthetic_source(600, 40, 0), synthetic_source(600, 40, 0, near_share=1.0)
    assert hard.held_out == usual.held_out and hard.card["near_miss_share"] == 1.0
    refs = {(p.instruction, p.input): p.reference for p in hard.train}
    wrong = [(r, refs[(p.instruction, p.input)]) for p in hard.train for r in (p.response1, p.response2)
             if r != refs[(p.instruction, p.input)]]
    same = sum(abs(int(r) - int(a)) in (1, 10) if a.isdigit() and r.isdigit() else len(r) == len(a)
               for r, a in wrong)
    assert len(wrong) > 300 and same / len(wrong) > 0.95
    with pytest.raises(ValueError, match="near-miss-share"):
        synthetic_source(10, 5, 0, near_share=1.5)


def test_a_continued_judges_card_keeps_every_earlier_command(tmp_path: Path) -> None:
    from judge.training.cli import _lineage

    first, second = tmp_path / "phase1", tmp_path / "phase2"
    first.mkdir(), second.mkdir()
    (first / "judge_card.json").write_text(json.dumps({"command": "hpo judge train A", "built_on": []}))
    (second / "judge_card.json").write_text(json.dumps({"command": "hpo judge train B",
                                                        "built_on": _lineage(str(first))}))
    assert _lineage(str(second)) == ["hpo judge train A", "hpo judge train B"]
    assert _lineage(None) == [] and _lineage("org/hub-model") == []  # no local card: no lineage
    for bad in (b"\xff\xfe", b"[1, 2]", b'{"built_on": "A"}', b"{"):
        (second / "judge_card.json").write_bytes(bad)
        with pytest.raises(ValueError, match="judge_card.json"):
            _lineage(str(second))


def test_a_bad_base_card_is_one_line_exit_2_before_any_work(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main

    base, out = tmp_path / "base", tmp_path / "out"
    base.mkdir()
    (base / "judge_card.json").write_bytes(b"\xff not json")
    code = main(["judge", "train", "--synthetic", "--recipe", "pandalm", "--model", str(base),
                 "--out", str(out), "--pairs", "10", "--max-steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "judge_card.json: not a judge card" in err and len(err.splitlines()) == 1
    assert not out.exists()
