"""Judge backend: in-process transformers (no server).

Batches with LEFT padding (so every row's next token sits at the same position), requests
sorted by prompt length to waste little compute on padding. Modes:
- `logprobs`: ONE forward pass, no `generate`: the first-token probabilities of "1", "2" and
  the first token of "Tie" decide the verdict (judge.parse.verdict_from_probs);
- `verdict`: greedy, a few new tokens, stopping at the first newline (PandaLM writes its
  verdict on the first line); `full`: greedy up to 512 tokens (reason and reference too);
- `faithful`: PandaLM's reference decoding (4 beams, early stopping, repetition penalty 1.2,
  512 new tokens), batched instead of one sample at a time.
A prompt longer than the context is fitted by judge.fit (both responses cut equally).
Loads a local directory, a hub id (from the local cache), or a GGUF file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from judge.backends import (
    FAITHFUL,
    BackendInputs,
    check_mode,
    check_tie_band,
    decoding_tag,
    max_tokens_for,
    prompt_budget,
)
from judge.backends.hf_settings import HfSettings, resolve_placement
from judge.errors import ConfigError
from judge.fit import fit_request, prompt_of
from judge.parse import parse_judgment, verdict_from_probs
from judge.types import JudgeRequest, Judgment, Verdict

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class _StopOnTokens(StoppingCriteria):
    """Marks a row finished once its last token contains a newline (per row, not per batch)."""

    def __init__(self, token_ids: torch.Tensor) -> None:
        self.token_ids = token_ids

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.isin(input_ids[:, -1], self.token_ids)  # type: ignore[return-value]


def newline_token_ids(tokenizer: Any) -> torch.Tensor:
    """Ids of every vocabulary token whose text contains a newline."""
    vocab = tokenizer.get_vocab()
    ids = [i for i in vocab.values() if "\n" in tokenizer.decode([i])]
    return torch.tensor(sorted(ids), dtype=torch.long)


def split_gguf(model: str, gguf_file: str | None) -> tuple[str, str | None]:
    """Accept `model=dir, gguf_file=name` or a direct path to a .gguf file."""
    if gguf_file is None and model.endswith(".gguf"):
        path = Path(model)
        return str(path.parent), path.name
    return model, gguf_file


def first_token_ids(tokenizer: Any, words: Sequence[str] = ("1", "2", "Tie")) -> list[int]:
    """Id of the first token of each word when it follows the prompt's "### Evaluation:\n"."""
    anchor = "### Evaluation:\n"
    base = tokenizer(anchor, add_special_tokens=False)["input_ids"]
    ids = []
    for word in words:
        full = tokenizer(anchor + word, add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) == len(base):
            raise ConfigError(f"hf judge: cannot find the first token of '{word}' after the prompt")
        ids.append(int(full[len(base)]))
    return ids


def weights_fingerprint(source: str) -> str:
    """12 hex digits identifying the weights: the hub commit, or for a local folder the sha256
    of every weight file's name, size, first and last MiB (cheap even for 7B checkpoints)."""
    path = Path(source)
    files = sorted(p for p in ([path] if path.is_file() else path.glob("*"))
                   if p.suffix in (".safetensors", ".bin", ".gguf", ".pt")) if path.exists() else []
    if not files:
        return "unknown"
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:12]


class HFJudge:
    """Judges requests with a local causal LM through `generate`; see module docstring."""

    @classmethod
    def from_settings(cls, settings: HfSettings, inputs: BackendInputs) -> HFJudge:
        """The backend a run's `judge:` section describes (`HfSettings.init_kwargs`)."""
        return cls(**settings.init_kwargs(inputs))

    def __init__(
        self,
        model: str,
        mode: str = "verdict",
        batch_size: int = 16,
        max_new_tokens: int | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        trust_remote_code: bool = False,
        gguf_file: str | None = None,
        tie_band: float = 0.0,
        max_context: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"hf judge: batch_size must be >= 1, got {batch_size}")
        device, dtype = resolve_placement(device, dtype)
        self.mode, self.batch_size = check_mode(mode), batch_size
        self.max_new_tokens = max_tokens_for(mode, max_new_tokens)
        self.tie_band = check_tie_band(tie_band)
        source, gguf = split_gguf(model, gguf_file)
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "gguf_file": gguf}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            loaded: Any = AutoModelForCausalLM.from_pretrained(source, dtype=_DTYPES[dtype], **kwargs)
            self.model = loaded.to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"hf judge: cannot load model '{model}': {str(exc).splitlines()[0]}") from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._stop = StoppingCriteriaList([_StopOnTokens(newline_token_ids(self.tokenizer))]) if mode == "verdict" else None
        self._verdict_ids = first_token_ids(self.tokenizer) if mode == "logprobs" else []
        context = max_context or int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        self.budget = prompt_budget(context, mode, self.max_new_tokens) if context else None
        weights = getattr(self.model.config, "_commit_hash", None) or weights_fingerprint(str(Path(source) / (gguf or "")))
        self.identity = (f"hf:{model}{'/' + gguf if gguf and gguf_file else ''}:"
                         f"{decoding_tag(mode, self.max_new_tokens, self.tie_band)}:w={weights}")
        self._closed = False

    def __repr__(self) -> str:
        return f"HFJudge(identity={self.identity!r}, batch_size={self.batch_size})"

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """One Judgment per request, in order; batches run shortest prompts first."""
        if self._closed:
            raise ConfigError("hf judge is closed")
        fitted = [self._fit(r) for r in requests]
        todo = sorted((i for i, f in enumerate(fitted) if f), key=lambda i: len(fitted[i][0]))  # type: ignore[index]
        out = [Judgment(Verdict.INVALID, raw="prompt over the judge's context even with empty responses")] * len(requests)
        run = self._logprobs if self.mode == "logprobs" else self._generate
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            for i, judgment in zip(chunk, run([fitted[i][0] for i in chunk]), strict=True):  # type: ignore[index]
                out[i] = replace(judgment, truncated=fitted[i][1]) if fitted[i][1] else judgment  # type: ignore[index]
        return out

    def _fit(self, request: JudgeRequest) -> tuple[list[int], str] | None:
        """Token ids of the request's prompt, fitted to the context (judge.fit) if needed."""
        ids = self.tokenizer(prompt_of(request))["input_ids"]
        if self.budget is None or len(ids) <= self.budget:
            return ids, ""
        fitted = fit_request(request, lambda text: len(self.tokenizer(text)["input_ids"]), self.budget)
        return None if fitted is None else (self.tokenizer(prompt_of(fitted[0]))["input_ids"], fitted[1])

    def _batch(self, batch_ids: list[list[int]]) -> Any:
        batch = self.tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt")
        return batch.to(self.model.device)

    @torch.inference_mode()
    def _logprobs(self, batch_ids: list[list[int]]) -> list[Judgment]:
        """One forward pass; the softmax (fp32) of the last position, read at "1", "2", "Tie"."""
        batch = self._batch(batch_ids)
        # Positions as `generate` computes them under left padding (pads do not shift them).
        positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        logits = self.model(**batch, position_ids=positions, use_cache=False, logits_to_keep=1).logits[:, -1, :]
        full = torch.softmax(logits.float(), dim=-1)
        probs, tops = full[:, self._verdict_ids].tolist(), full.max(dim=-1).values.tolist()
        return [Judgment(verdict_from_probs((p[0], p[1], p[2]), top, self.tie_band),
                         raw=_probs_text(p, top), probs=(p[0], p[1], p[2])) for p, top in zip(probs, tops, strict=True)]

    @torch.inference_mode()
    def _generate(self, batch_ids: list[list[int]]) -> list[Judgment]:
        batch = self._batch(batch_ids)
        decoding = dict(FAITHFUL) if self.mode == "faithful" else {"num_beams": 1}
        out = self.model.generate(
            **batch,
            do_sample=False,
            max_new_tokens=self.max_new_tokens,
            stopping_criteria=self._stop,
            pad_token_id=self.tokenizer.pad_token_id,
            **decoding,
        )
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        return [parse_judgment(t) for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def close(self) -> None:
        """Drop the model so its memory can be freed; safe to call more than once."""
        if not self._closed:
            self._closed = True
            del self.model


def _probs_text(p: Sequence[float], top: float) -> str:
    """The raw text stored for a logprobs judgment (the probabilities, for audit)."""
    return f"P(1)={p[0]:.6g} P(2)={p[1]:.6g} P(Tie)={p[2]:.6g} top={top:.6g}"
