"""Judge backend: in-process transformers generation (no server).

Batched greedy decoding with LEFT padding (so every row's next token sits at the same
position), requests sorted by prompt length to waste little compute on padding, and in
verdict mode a few new tokens that stop at the first newline: PandaLM writes its verdict
("1", "2" or "Tie") on the first line, so reason and reference are only generated in
`full` mode. Loads a local directory, a hub id (from the local cache), or a GGUF file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from judge.backends import check_mode, max_tokens_for
from judge.errors import ConfigError
from judge.parse import parse_judgment
from judge.prompt import build_prompt
from judge.types import JudgeRequest, Judgment

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


class HFJudge:
    """Judges requests with a local causal LM through `generate`; see module docstring."""

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
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"hf judge: batch_size must be >= 1, got {batch_size}")
        if dtype != "auto" and dtype not in _DTYPES:
            raise ConfigError(f"hf judge: unknown dtype '{dtype}'; valid: auto, {', '.join(_DTYPES)}")
        self.mode, self.batch_size = check_mode(mode), batch_size
        self.max_new_tokens = max_tokens_for(mode, max_new_tokens)
        source, gguf = split_gguf(model, gguf_file)
        self.identity = f"hf:{model}{'/' + gguf if gguf and gguf_file else ''}:{mode}"
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "gguf_file": gguf}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            loaded: Any = AutoModelForCausalLM.from_pretrained(source, dtype=_DTYPES.get(dtype, "auto"), **kwargs)
            self.model = loaded.to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"hf judge: cannot load model '{model}': {str(exc).splitlines()[0]}") from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._stop = StoppingCriteriaList([_StopOnTokens(newline_token_ids(self.tokenizer))]) if mode == "verdict" else None
        self._closed = False

    def __repr__(self) -> str:
        return f"HFJudge(identity={self.identity!r}, batch_size={self.batch_size})"

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgment]:
        """One Judgment per request, in order; generation runs shortest prompts first."""
        if self._closed:
            raise ConfigError("hf judge is closed")
        prompts = [build_prompt(r.instruction, r.input, r.response1, r.response2) for r in requests]
        encoded = [self.tokenizer(p)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        texts: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, text in zip(chunk, self._generate([encoded[i] for i in chunk]), strict=True):
                texts[i] = text
        return [parse_judgment(t) for t in texts]

    @torch.inference_mode()
    def _generate(self, batch_ids: list[list[int]]) -> list[str]:
        batch = self.tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt")
        batch = batch.to(self.model.device)
        out = self.model.generate(
            **batch,
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.max_new_tokens,
            stopping_criteria=self._stop,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        return list(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))

    def close(self) -> None:
        """Drop the model so its memory can be freed; safe to call more than once."""
        if not self._closed:
            self._closed = True
            del self.model
