"""How the tournament asks the judge: the run's backend (by name), its pairwise judge over the
verdict store, and `AnswerMatchJudge`, the MatchJudge over stored answers.

The tournament only knows candidate ids and item indices; `AnswerMatchJudge` looks up each
candidate's answer to each validation example and delegates to a pairwise judge (in practice
`judge.pairwise.PairwiseJudge`), which judges both orders, applies the tie policy and dedupes
through the verdict store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hpo.config.schema import JudgeConfig
from hpo.errors import ConfigError, JudgeUnavailableError
from hpo.tournament.base import ItemOutcome
from hpo.types import Example
from judge.backends import BackendInputs
from judge.types import ComparisonItem, JudgeBackend

if TYPE_CHECKING:
    from judge.pairwise import PairwiseJudge


def backend_inputs(cfg: JudgeConfig, validation: Sequence[Example]) -> BackendInputs:
    """What the run hands its backend besides the settings: the validation data's reference
    answers (the `reference` oracle), the run's tie band, and how `hpo` names models."""
    refs = {(ex.instruction, ex.input): ex.output for ex in validation if ex.output is not None}
    return BackendInputs(references=refs, tie_band=cfg.tie_band, resolve_model=judge_model_source)


def judge_model_source(name: str) -> str:
    """What the hf judge loads for `judge.model`: the trials' aliases resolve the same way
    (`smollm2-135m` from its package, offline; `bloom-7b` to its hub id); anything else (a hub
    id, a folder, a .gguf file) is passed on as given."""
    from hpo.models.aliases import resolve_model

    try:
        resolved = resolve_model(name)
    except ConfigError:
        return name
    if resolved.kind == "smollm2":
        from hpo.models import smollm2

        return str(smollm2.cached_dir())
    return resolved.source or name


def validate_judge(cfg: JudgeConfig) -> None:
    from judge.registry import BACKENDS

    BACKENDS.validate(cfg.backend)


def build_backend(cfg: JudgeConfig, validation: Sequence[Example]) -> JudgeBackend:
    from judge.registry import BACKENDS

    backend = BACKENDS.build(cfg.backend, cfg.settings, backend_inputs(cfg, validation))
    check = getattr(backend, "check_reachable", None)
    if callable(check):
        try:
            check()
        except JudgeUnavailableError as exc:  # at start nothing is resumable: it is bad input
            raise ConfigError(f"judge not reachable at start: {exc}") from None
    return backend


def build_pairwise(cfg: JudgeConfig, backend: JudgeBackend, store_path: Path) -> PairwiseJudge:
    from judge.pairwise import PairwiseJudge
    from judge.store import VerdictStore

    return PairwiseJudge(backend, VerdictStore(store_path), policy=cfg.policy,
                         invalid_retries=cfg.invalid_retries, tie_band=cfg.tie_band)


class Pairwise(Protocol):
    """What AnswerMatchJudge needs from a pairwise judge (PairwiseJudge has this shape)."""

    calls: int

    def compare(self, items: Sequence[ComparisonItem], pair: tuple[str, str] | None = None) -> list[int | None]: ...


class AnswerMatchJudge:
    """MatchJudge backed by `answers[candidate_id][i]` for validation example i."""

    def __init__(self, answers: Mapping[str, Sequence[str]], examples: Sequence[Example],
                 pairwise: Pairwise) -> None:
        self.answers, self.examples, self.pairwise = answers, list(examples), pairwise
        self.n_items = len(self.examples)

    @property
    def calls(self) -> int:
        return self.pairwise.calls

    def answers_of(self, cid: str) -> Sequence[str]:
        """One candidate's answers, looked up lazily (a live mapping may wait for the file);
        a missing candidate raises KeyError, a wrong answer count ConfigError."""
        answers = self.answers[cid]
        if len(answers) != self.n_items:
            raise ConfigError(f"candidate '{cid}' has {len(answers)} answers, "
                              f"expected {self.n_items} (one per validation example)")
        return answers

    def items_for(self, a: str, b: str, items: Sequence[int]) -> list[ComparisonItem]:
        """The ComparisonItems for `a` (as answer_a) against `b` on the given item indices."""
        ans_a, ans_b = self.answers_of(a), self.answers_of(b)
        return [ComparisonItem(self.examples[i].instruction, self.examples[i].input,
                               ans_a[i], ans_b[i]) for i in items]

    def judge(self, a: str, b: str, items: Sequence[int]) -> list[ItemOutcome]:
        if not items:
            return []
        outcomes = self.pairwise.compare(self.items_for(a, b, items), pair=(a, b))
        if len(outcomes) != len(items):
            raise RuntimeError(f"pairwise judge returned {len(outcomes)} outcomes for {len(items)} items")
        return list(outcomes)
