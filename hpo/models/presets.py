"""Real-model defaults for the paper's five base models (`--model bloom-7b` and the others).

Precedence: built-in defaults -> preset -> YAML -> CLI. A preset fills only what the user left
unset (a YAML file or flag naming another judge backend drops the preset judge's options that
backend does not take: `hpo.config.schema.rebase_judge`), so `--model llama-7b` alone gets settings a
7B run needs instead of the tiny defaults: max length 512, answers up to 512 new tokens, bf16 compute with fp32 master weights, ZeRO-2
over 4 GPUs per trial with 1 trial at once and the judge on 2 more (an 8-GPU node; 4 workers
so every rank fits an 80 GB card, docs/trial.md "Memory"), gradient
accumulation to Alpaca's effective batch of 128 (4 x 8 x 4), gradient checkpointing, and the
`vllm` judge serving
PandaLM-7B. Data: Alpaca's training set from the Hugging Face hub (`hf:tatsu-lab/alpaca`, or
its local datasets cache) and PandaLM's 170 validation instructions, shipped in the package
(`data/pandalm-validation-170.json`, a copy of PandaLM's testset-inference-v1.json); point
`data.train` / `data.validation` elsewhere to use your copies. `tiny` keeps the tiny defaults.
"""

from __future__ import annotations

import copy
from typing import Any

from hpo.config.schema import rebase_judge
from hpo.models.aliases import HUB_MODELS

# Resource names: the user's file of that name wins, else the packaged copy (hpo/assets/).
DEEPSPEED_ZERO2 = "configs/deepspeed/zero2.json"
ALPACA_TRAIN = "hf:tatsu-lab/alpaca"
PANDALM_VALIDATION = "data/pandalm-validation-170.json"

REAL_MODEL: dict[str, Any] = {
    "model": {"dtype": "bfloat16"},
    "data": {"train": ALPACA_TRAIN, "validation": PANDALM_VALIDATION},
    "train": {"batch_size": 4, "gradient_accumulation_steps": 8, "max_length": 512,
              "max_new_tokens": 512, "generation_batch_size": 16, "lr_multiplier": 1,
              "precision": "bf16-mixed", "gradient_checkpointing": True,
              "deepspeed": DEEPSPEED_ZERO2, "keep_weights": "best"},
    # One 8-GPU node: the judge holds 2 (a Ray actor, `hpo serve-judge --ray`, tensor parallel 2)
    # and 1 trial x 4 ZeRO-2 workers takes 4 more: 2 x 3 would need ~82 GB per GPU for BLOOM
    # (the memory model, docs/trial.md "Memory"), 4 workers need ~54 GB.
    "search": {"max_concurrent": 1},
    "resources": {"workers_per_trial": 4, "use_gpu": True, "cpus_per_trial": 8, "gpus_per_node": 8},
    "judge": {"backend": "vllm", "model": "WeOpenML/PandaLM-7B-v1",
              "serve": {"gpus": 2, "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9}},
}
GPUS_PER_NODE = 8


def preset_for(model_name: str) -> dict[str, Any] | None:
    """The preset for a hub alias, or None (tiny, smollm2, local folders keep the defaults)."""
    return copy.deepcopy(REAL_MODEL) if model_name in HUB_MODELS else None


def apply_preset(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (YAML + CLI, nested) laid over the preset of its model; unchanged without one."""
    name = (data.get("model") or {}).get("name", "tiny")
    preset = preset_for(name) if isinstance(name, str) else None
    if preset and isinstance(data.get("judge"), dict) and "backend" in data["judge"]:
        preset["judge"] = rebase_judge(preset["judge"], data["judge"]["backend"])
    return _merge(preset, data) if preset else data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
