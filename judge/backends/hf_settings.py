"""The `hf` backend's settings, apart from `judge.backends.hf` so that reading a config never
imports torch and transformers (that module imports them at the top)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from judge.backends import BackendInputs, BackendSettings
from judge.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16")


class HfSettings(BackendSettings):
    """The `hf` backend's options (`judge.<option>` beside `backend: hf`)."""

    model: str | None = Field(None, description=(
        "the judge's weights: a folder, a hub id (from the local cache), a .gguf file, or a "
        "model alias the trials take (smollm2-135m)"))
    mode: Literal["verdict", "full", "logprobs", "faithful"] = Field("verdict", description=(
        "decoding: verdict (first line), full (reason too), logprobs (one forward pass), "
        "faithful (PandaLM's beam search)"))
    batch_size: int = Field(16, gt=0, description="prompts per forward pass")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$", description=(
        "where the judge runs; auto = cuda when CUDA is available, else cpu"))
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description=(
        "weights' dtype; auto = bfloat16 on CUDA, float32 on CPU"))

    def placement(self) -> tuple[str, str]:
        """Concrete (device, dtype); a one-line ConfigError naming both options when they
        cannot be honoured here."""
        try:
            return resolve_placement(self.device, self.dtype)
        except ConfigError as exc:
            raise ConfigError(f"judge.device={self.device} judge.dtype={self.dtype}: {exc}") from None

    def init_kwargs(self, inputs: BackendInputs) -> dict[str, Any]:
        """`HFJudge`'s constructor arguments: the model named as the caller resolves it,
        the placement made concrete, the run's tie band."""
        if not self.model:
            raise ConfigError("judge 'hf' needs judge.model (e.g. WeOpenML/PandaLM-7B-v1)")
        device, dtype = self.placement()
        return {"model": inputs.resolve_model(self.model), "mode": self.mode,
                "batch_size": self.batch_size, "tie_band": inputs.tie_band,
                "device": device, "dtype": dtype}


def resolve_placement(device: str, dtype: str) -> tuple[str, str]:
    """Concrete (device, dtype): `auto` device = cuda when CUDA is available, else cpu; `auto`
    dtype = bfloat16 on CUDA (a 7B judge in fp32 needs 28 GB), float32 on CPU (bf16 is slower
    there and changes verdicts). A CUDA device without CUDA is a one-line ConfigError."""
    import torch  # only when a judge is built, never to read a config

    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise ConfigError(f"hf judge: device '{device}' but CUDA is not available; use cpu or auto")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise ConfigError(f"hf judge: unknown dtype '{dtype}'; valid: auto, {', '.join(DTYPES)}")
    return device, dtype
