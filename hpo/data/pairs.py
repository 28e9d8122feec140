"""Labelled judge pairs from the synthetic suite, for `hpo judge train --synthetic`.

Each pair shows one suite instruction with two responses drawn from: the exact answer, a near
miss (one character changed, dropped, added or two swapped; a number off by one or ten; a
partial sort; the input copied back), the answer to a different task on the same input, an
unrelated string, or nothing. These are the mistakes the tiny candidates make.

Label rule: correct beats wrong; both correct (the same string: answers are exact) or both
wrong is a Tie. Why not "the closer wrong answer wins": the run's truth is exact match, under
which two wrong answers score the same, so a Tie between them is what a judge that agrees with
the truth says; "closer" would also need a distance the tasks do not define (is 45 closer to
46 than "46 " is?). With ties for both-wrong, a candidate wins a comparison exactly when it is
right where the other is wrong, so win rates follow exact-match accuracy.

Mix (before swap augmentation, which mirrors every pair): 2/3 correct-vs-wrong, 1/6 both
correct, 1/6 both wrong, so after swapping the labels 1, 2 and Tie are a third each.
Instructions are disjoint from the validation sets of the suite for the `exclude_seeds`
(every run of the tiny experiments uses one of these) and from the judge's own held-out split.

The open-answer families (`synthetic.OPEN_TASKS`: many answers are right, a checker decides)
can be included: there "right" is the checker's verdict, a right response is drawn afresh
(two right responses usually differ and are still a Tie), and a wrong one is anything the
checker rejects (a near miss of a right answer, a letter not in the string, a number just out
of range, another task's answer, an unrelated string, nothing).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from hpo.data.synthetic import ALL_TASKS, ALPHABET, CHECKS, OPEN_TASKS, TASKS, generate
from judge.training.data import Demo, Pair, PairSource

# The reason after each verdict: which response is right. Only the verdict is read at judging
# time; writing the reason too gives training a label per response (the verdict alone is an XOR
# of the two), which measurably speeds learning (docs/judge.md). Its words are tokenizer pieces.
REASON_PIECES = ("Response 1", "Response 2", " right", " wrong")
WRONG_KINDS = ("near", "near", "near", "near", "copy", "wrong_task", "unrelated", "empty")
EXCLUDE_SEEDS = tuple(range(10))  # synthetic.seed values whose validation sets are excluded


def _near_text(answer: str, rng: random.Random) -> str:
    """One edit: change, drop, insert, or swap two adjacent characters."""
    chars = list(answer)
    kind = rng.choice(("change", "drop", "insert", "swap") if len(chars) > 1 else ("change", "insert"))
    i = rng.randrange(len(chars))
    pool = ALPHABET.upper() if answer.isupper() else "0123456789" if answer.isdigit() else ALPHABET
    if kind == "change":
        chars[i] = rng.choice([c for c in pool if c != chars[i]] or ["x"])
    elif kind == "drop":
        del chars[i]
    elif kind == "insert":
        chars.insert(i, rng.choice(pool))
    else:
        i = min(i, len(chars) - 2)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _off_by_one_or_ten(answer: str, rng: random.Random) -> str:
    """A number answer moved by -10, -1, +1 or +10 (never below 0)."""
    return str(max(0, int(answer) + rng.choice((-10, -1, 1, 10))))


def near_miss(task: str, inp: str, answer: str, rng: random.Random) -> str:
    """A wrong answer close to `answer`, in the task's own style."""
    if answer.isdigit() and rng.random() < 0.6:
        return _off_by_one_or_ten(answer, rng)
    if task == "sort" and rng.random() < 0.4 and len(set(inp)) > 1:
        return "".join(sorted(inp[: len(inp) // 2 + 1])) + inp[len(inp) // 2 + 1:]  # partial sort
    return _near_text(answer, rng)


def is_right(instruction: str, inp: str, answer: str, response: str) -> bool:
    """The suite's truth for one response: the open family's checker, else exact match."""
    check = CHECKS.get(instruction)
    return check(inp, response.strip()) if check else response.strip() == answer.strip()


def right_answer(task: str, inp: str, answer: str, rng: random.Random) -> str:
    """A right response: the exact answer, or for an open family a fresh draw among the right
    ones (a permutation, a letter of the string, a number in the range)."""
    if task == "any_order":
        letters = list(inp)
        rng.shuffle(letters)
        return "".join(letters)
    if task == "any_letter":
        return rng.choice(inp)
    if task == "any_number":
        lo, hi = (int(v) for v in inp.split())
        return str(rng.randint(lo, hi))
    return answer


def _open_miss(task: str, inp: str, answer: str, rng: random.Random) -> str:
    """A near miss for an open family: just outside what the checker accepts."""
    if task == "any_letter":
        return rng.choice([c for c in ALPHABET if c not in inp] or ["z"]) if rng.random() < 0.7 \
            else answer + rng.choice(inp)
    if task == "any_number":
        lo, hi = (int(v) for v in inp.split())
        return str(rng.choice([max(0, lo - rng.randint(1, 3)), hi + rng.randint(1, 3)]))
    return _near_text(right_answer(task, inp, answer, rng), rng)


def same_length_miss(answer: str, rng: random.Random) -> str:
    """The wrong answers the judges miss most (docs/judge.md): a number off by one or ten, or
    the answer with one character changed or two adjacent different ones swapped."""
    if answer.isdigit():
        return _off_by_one_or_ten(answer, rng)
    chars = list(answer)
    swaps = [i for i in range(len(chars) - 1) if chars[i] != chars[i + 1]]
    if swaps and rng.random() < 0.5:
        i = rng.choice(swaps)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    elif chars:
        i = rng.randrange(len(chars))
        pool = ALPHABET.upper() if answer.isupper() else ALPHABET
        chars[i] = rng.choice([c for c in pool if c != chars[i]])
    return "".join(chars)


def wrong_answer(task: str, inp: str, answer: str, rng: random.Random, instruction: str = "",
                 near_share: float = 0.0) -> str:
    """A wrong response of a random kind; never right (exact match, or for an open family
    given its `instruction`, the family's checker). With `near_share` > 0, that fraction of a
    closed family's wrong answers are same-length near misses (`same_length_miss`)."""
    if near_share and task not in OPEN_TASKS and rng.random() < near_share:
        out = same_length_miss(answer, rng)
        if out.strip() != answer.strip():
            return out
    for _ in range(20):
        kind = rng.choice(WRONG_KINDS)
        if kind == "near" and task in OPEN_TASKS:
            out = _open_miss(task, inp, answer, rng)
        elif kind == "near":
            out = near_miss(task, inp, answer, rng)
        elif kind == "copy":
            out = inp
        elif kind == "wrong_task":
            other = rng.choice([t for t in ("reverse", "uppercase", "sort") if t != task])
            word = inp.replace(" ", "") if task in ("add", "any_number") else inp
            out = {"reverse": word[::-1], "uppercase": word.upper(), "sort": "".join(sorted(word))}[other]
        elif kind == "unrelated":
            out = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 6)))
        else:
            out = ""
        if not is_right(instruction, inp, answer, out):
            return out
    return answer + "x" if task not in OPEN_TASKS else ""


def correctness_reason(response1: str, response2: str, answer: str, instruction: str = "",
                       inp: str = "") -> str:
    """"Response 1 right, Response 2 wrong." style: each response against the exact answer
    (or, for an open family given its `instruction` and `inp`, the family's checker)."""
    def word(r: str) -> str:
        return "right" if is_right(instruction, inp, answer, r) else "wrong"
    return f"Response 1 {word(response1)}, Response 2 {word(response2)}."


def _pair(task: str, instruction: str, inp: str, answer: str, rng: random.Random,
          near_share: float = 0.0) -> Pair:
    roll = rng.random()
    right = lambda: right_answer(task, inp, answer, rng)  # noqa: E731
    wrong = lambda: wrong_answer(task, inp, answer, rng, instruction, near_share)  # noqa: E731
    if roll < 2 / 3:
        r1, r2, label, kind = right(), wrong(), 1, "correct-vs-wrong"
    elif roll < 5 / 6:
        r1, r2, label, kind = right(), right(), 0, "both-correct"
    else:
        r1, r2 = wrong(), wrong()
        label, kind = 0, "both-wrong"
    if rng.random() < 0.5:  # random order before augmentation too, so held-out data is mixed
        r1, r2, label = r2, r1, {1: 2, 2: 1, 0: 0}[label]
    return Pair(instruction, inp, r1, r2, label, reason=correctness_reason(r1, r2, answer, instruction, inp),
                reference=answer, meta=f"{task}:{kind}")


def validation_keys(seeds: Iterable[int], tasks: Sequence[str], n_train: int = 2000,
                    n_validation: int = 200) -> set[tuple[str, str]]:
    """(instruction, input) of the suite's validation sets for these seeds; validation draws
    are a prefix of one stream, so a larger n_validation covers every smaller one."""
    keys: set[tuple[str, str]] = set()
    for seed in seeds:
        _, validation = generate(tasks, n_train, n_validation, seed)
        keys |= {(e.instruction, e.input) for e in validation}
    return keys


def build_pairs(n: int, seed: int, tasks: Sequence[str] = tuple(TASKS),
                exclude: set[tuple[str, str]] | None = None, distinct: bool = True,
                near_share: float = 0.0) -> list[Pair]:
    """`n` labelled pairs whose (instruction, input) is not in `exclude`; with `distinct`, one
    pair per (instruction, input) (the add task has only 10,000 inputs, so large training sets
    repeat inputs with fresh responses). `near_share`: see `wrong_answer`."""
    rng = random.Random(f"hpo-judge-pairs-{seed}")
    seen = set(exclude or ())
    out: list[Pair] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct judge pairs for tasks {list(tasks)}")
        task = tasks[len(out) % len(tasks)]
        instruction, inp, answer = ALL_TASKS[task](rng)
        if (instruction, inp) in seen:
            continue
        if distinct:
            seen.add((instruction, inp))
        out.append(_pair(task, instruction, inp, answer, rng, near_share))
    return out


def build_splits(n_train: int, n_heldout: int, seed: int, tasks: Sequence[str] = tuple(TASKS),
                 exclude_seeds: Iterable[int] = EXCLUDE_SEEDS,
                 train_tasks: Sequence[str] | None = None,
                 near_share: float = 0.0) -> tuple[list[Pair], list[Pair]]:
    """Train and held-out pairs with disjoint instructions, both disjoint from the validation
    sets of `exclude_seeds`. The held-out pairs cycle through `tasks` (an even mix) with the
    usual wrong answers; the training pairs through `train_tasks` (default `tasks`; a name
    repeated is drawn more), with `near_share` of their wrong answers same-length misses."""
    exclude = validation_keys(exclude_seeds, tasks)
    held_out = build_pairs(n_heldout, seed + 1_000_003, tasks, exclude)
    exclude |= {(p.instruction, p.input) for p in held_out}
    train = build_pairs(n_train, seed, train_tasks or tasks, exclude, distinct=False, near_share=near_share)
    return train, held_out


def suite_instructions(tasks: Sequence[str] = tuple(TASKS)) -> list[str]:
    """Instruction strings of the suite (count's letter varies), as tokenizer pieces."""
    rng = random.Random(0)
    texts = {ALL_TASKS[t](rng)[0] for t in tasks for _ in range(200)}
    return sorted(texts)


def build_demos(n: int, seed: int, tasks: Sequence[str], exclude: set[tuple[str, str]]) -> list[Demo]:
    """`n` worked examples (instruction, input, the stored answer) cycling through `tasks`,
    none of whose (instruction, input) is in `exclude` (the runs' validation, the held-out)."""
    rng = random.Random(f"hpo-judge-demos-{seed}")
    out: list[Demo] = []
    while len(out) < n:
        instruction, inp, answer = ALL_TASKS[tasks[len(out) % len(tasks)]](rng)
        if (instruction, inp) not in exclude:
            out.append(Demo(instruction, inp, answer))
    return out


def task_weights(tasks: Sequence[str]) -> dict[str, int]:
    """`["add=3", "reverse", ...]` -> {"add": 3, "reverse": 1, ...}: how many times each family
    comes up in one cycle of the training draws (a whole number, 1 if not given)."""
    weights: dict[str, int] = {}
    for entry in tasks:
        name, _, raw = (part.strip() for part in entry.partition("="))
        if raw and not (raw.isdigit() and int(raw) >= 1):
            raise ValueError(f"task weight must be a whole number >= 1: '{entry}'")
        weights[name] = int(raw or 1)
    unknown = [t for t in weights if t not in ALL_TASKS]
    if unknown:
        raise ValueError(f"unknown synthetic task(s) {unknown}; valid: {', '.join(ALL_TASKS)}")
    return weights


def synthetic_source(n_train: int, n_heldout: int, seed: int, tasks: Sequence[str] | None = None,
                     n_demos: int = 0, near_share: float = 0.0) -> PairSource:
    """The `hpo judge train --synthetic` data: training and held-out pairs, tokenizer pieces,
    the card's description, and `n_demos` demos. `tasks`: families to draw from (default: the
    suite's default mix, `synthetic.TASKS`), each optionally `name=weight`: training pairs and
    demos draw a family `weight` times per cycle, the held-out pairs stay an even mix.
    `near_share`: that fraction of the training pairs' wrong answers are same-length misses
    (the held-out pairs keep the usual mix)."""
    if not 0 <= near_share <= 1:
        raise ValueError(f"--near-miss-share must be in [0, 1], got {near_share}")
    weights = task_weights(tasks or tuple(TASKS))
    names = tuple(weights)
    weighted = tuple(t for t in names for _ in range(weights[t]))
    train, held_out = build_splits(n_train, n_heldout, seed, names, train_tasks=weighted,
                                   near_share=near_share)
    card = {"data": "synthetic suite (hpo.data.pairs)", "pair_seed": seed,
            "excluded_validation_seeds": list(EXCLUDE_SEEDS), "tasks": list(names),
            "label_rule": "right beats wrong (exact match; open families: their checker); "
                          "both right or both wrong = Tie"
                          if set(names) & set(OPEN_TASKS) else
                          "correct beats wrong; both correct or both wrong = Tie"}
    if len(weighted) > len(names):
        card["task_weights"] = weights
    if near_share:
        card["near_miss_share"] = near_share
    card["reason"] = "which response is right: " + correctness_reason("a", "b", "a")
    demos: list[Demo] = []
    if n_demos:
        exclude = validation_keys(EXCLUDE_SEEDS, names) | {(p.instruction, p.input) for p in held_out}
        demos = build_demos(n_demos, seed, weighted, exclude)
        card["demos"] = "the right answer as both responses, loss on the answers (--solve-fraction)"
    return PairSource(train, held_out, [*suite_instructions(names), *REASON_PIECES], card, demos)
