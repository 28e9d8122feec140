"""The memory model's per-model table and the preset options it was chosen from (docs/trial.md).

Prints Markdown from `hpo.trial.sizing` / `hpo.trial.memory`, so the docs' numbers are the
code's, not typed by hand: `python benchmarks/memory_table.py` (no weights, no GPU).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hpo.config.schema import resolve_resource
from hpo.run.experiment import load_experiment as load_config
from hpo.trial.memory import GB, HEADROOM, usable_bytes
from hpo.trial.sizing import KNOWN, disk_plan, estimate

MODELS = list(KNOWN)
# name -> settings laid over the preset; every option keeps the effective batch at 128
OPTIONS: dict[str, dict[str, Any]] = {
    "2 workers x 3 trials, micro-batch 4 (old preset)": {
        "resources.workers_per_trial": 2, "search.max_concurrent": 3,
        "train.batch_size": 4, "train.gradient_accumulation_steps": 16},
    "2 workers x 3 trials, micro-batch 1": {
        "resources.workers_per_trial": 2, "search.max_concurrent": 3,
        "train.batch_size": 1, "train.gradient_accumulation_steps": 64},
    "2 workers x 3 trials, optimizer offload to CPU": {
        "resources.workers_per_trial": 2, "search.max_concurrent": 3,
        "train.batch_size": 4, "train.gradient_accumulation_steps": 16,
        "train.deepspeed": "OFFLOAD"},
    "4 workers x 1 trial, micro-batch 4": {
        "resources.workers_per_trial": 4, "search.max_concurrent": 1,
        "train.batch_size": 4, "train.gradient_accumulation_steps": 8},
}


def offload_config(folder: Path) -> str:
    """The packaged ZeRO-2 config with `offload_optimizer: cpu`, written to `folder` (evaluated
    only: the preset does not ship it)."""
    data = json.loads(resolve_resource("configs/deepspeed/zero2.json").read_text())
    data["zero_optimization"]["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    path = folder / "zero2-offload.json"
    path.write_text(json.dumps(data))
    return str(path)


def memory_table(overrides: dict[str, Any] | None = None) -> str:
    """Per model: parameters, each GPU term, total and headroom (GB) under the preset."""
    rows = [(m, estimate(load_config(None, {"model.name": m, **(overrides or {})}))) for m in MODELS]
    names = [name for name, _ in rows[0][1].memory.terms()]
    head = "| model | P | " + " | ".join(names) + " | total | left of 72 GB |"
    lines = [head, "|" + "---|" * (len(names) + 4)]
    for model, need in rows:
        cells = [f"{v / GB:.2f}" for _, v in need.memory.terms()]
        left = usable_bytes(80) / GB - need.gpu_memory_gb
        lines.append(f"| {model} | {KNOWN[model][0] / 1e9:.2f}B | " + " | ".join(cells)
                     + f" | **{need.gpu_memory_gb:.1f}** | {left:+.1f} |")
    return "\n".join(lines)


def options_table() -> str:
    """Each preset option: worst model's peak per GPU, host RAM per node, GPUs used, peak disk."""
    lines = ["| option | worst model | peak GB/GPU | fits 72 GB | host RAM/node (GB) | trial GPUs | "
             "peak disk (bloom, GB) |", "|---|---|---|---|---|---|---|"]
    folder = Path(tempfile.mkdtemp())
    for name, over in OPTIONS.items():
        over = {k: offload_config(folder) if v == "OFFLOAD" else v for k, v in over.items()}
        needs = {m: estimate(load_config(None, {"model.name": m, **over})) for m in MODELS}
        worst = max(needs, key=lambda m: needs[m].gpu_memory_gb)
        n, c = over["resources.workers_per_trial"], over["search.max_concurrent"]
        host = max(x.memory.host_bytes for x in needs.values()) * n * c / GB
        disk = disk_plan(load_config(None, {"model.name": "bloom-7b", **over}), None).peak_gb
        ok = needs[worst].gpu_memory_gb <= usable_bytes(80) / GB
        lines.append(f"| {name} | {worst} | {needs[worst].gpu_memory_gb:.1f} | {'yes' if ok else 'no'} | "
                     f"{host:.0f} | {n * c} | {disk:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"Memory per GPU (GB), 80 GB card less {HEADROOM:.0%} headroom = {usable_bytes(80) / GB:.0f} GB:\n")
    print(memory_table())
    print("\nPreset options (all keep effective batch 128):\n")
    print(options_table())
