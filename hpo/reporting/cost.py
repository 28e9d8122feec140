"""What a run cost: per training wall time, GPUs x hours and tokens; the judge's calls and time;
the run's GPU-hours split between training, generation and judging.

Read from what the run already records: each training's events.jsonl (`epoch_end` carries the
epoch's training seconds and tokens, `answers` the checkpoint's generation seconds and tokens;
a retried epoch counts once, its last attempt) and done.json, and the judge's counters. GPUs per
training and for the judge come from the config (`hpo.search.cluster`); on CPU they are 0, so the
seconds split is given beside the GPU-hours split.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HOUR = 3600.0


def training_cost(trial_dir: Path, gpus: float) -> dict[str, Any]:
    """One training's figures. Wall time runs from its first epoch start to its end (done.json,
    else its last event), so it includes any retry's restart but not loading the model."""
    events = _events(trial_dir / "events.jsonl")
    ends = {e["epoch"]: e for e in events if e.get("event") == "epoch_end"}
    answers = {e["epoch"]: e for e in events if e.get("event") == "answers"}
    starts = [e["time"] for e in events if e.get("event") == "epoch_start"]
    last = max((e.get("time", 0.0) for e in events), default=0.0)
    done = trial_dir / "done.json"
    if done.is_file():
        last = max(last, float(json.loads(done.read_text()).get("finished", 0.0)))
    wall = max(last - min(starts), 0.0) if starts else 0.0
    return {"training_id": trial_dir.name, "wall_s": round(wall, 3), "gpus": gpus,
            "gpu_hours": round(gpus * wall / HOUR, 6),
            "train_s": round(sum(e.get("train_seconds", 0.0) for e in ends.values()), 3),
            "generation_s": round(sum(e.get("generation_seconds", 0.0) for e in answers.values()), 3),
            "train_tokens": int(sum(e.get("train_tokens", 0) for e in ends.values())),
            "generated_tokens": int(sum(e.get("generated_tokens", 0) for e in answers.values()))}


def judge_cost(stats: Mapping[str, Any], gpus: float) -> dict[str, Any]:
    """Calls made, verdicts served from the store, seconds in backend calls and verdicts/s."""
    calls, seconds = int(stats.get("calls", 0)), float(stats.get("judge_seconds", 0.0))
    return {"calls": calls, "from_store": int(stats.get("cache_hits", 0)), "seconds": round(seconds, 3),
            "verdicts_per_s": round(calls / seconds, 3) if seconds > 0 else None, "gpus": gpus,
            "gpu_hours": round(gpus * seconds / HOUR, 6)}


def cost_summary(trials_dir: Path, trial_gpus: float, judge_stats: Mapping[str, Any],
                 judge_gpus: float) -> dict[str, Any]:
    """The report's `cost` section (see module doc)."""
    trainings = [training_cost(p.parent, trial_gpus) for p in sorted(Path(trials_dir).glob("*/events.jsonl"))]
    judge = judge_cost(judge_stats, judge_gpus)
    train_s = sum(t["train_s"] for t in trainings)
    gen_s = sum(t["generation_s"] for t in trainings)
    return {"trainings": trainings, "judge": judge,
            "train_tokens": sum(t["train_tokens"] for t in trainings),
            "generated_tokens": sum(t["generated_tokens"] for t in trainings),
            "seconds": {"training": round(train_s, 3), "generation": round(gen_s, 3),
                        "judging": judge["seconds"]},
            "gpu_hours": {"training": round(trial_gpus * train_s / HOUR, 6),
                          "generation": round(trial_gpus * gen_s / HOUR, 6),
                          "judging": judge["gpu_hours"],
                          "trainings_wall": round(sum(t["gpu_hours"] for t in trainings), 6)}}


def cost_metrics(cost: Mapping[str, Any]) -> dict[str, float]:
    """The summary as flat MLflow metrics (`cost/...`)."""
    out = {f"cost/gpu_hours_{k}": float(v) for k, v in cost["gpu_hours"].items()}
    out |= {f"cost/seconds_{k}": float(v) for k, v in cost["seconds"].items()}
    judge = cost["judge"]
    out |= {"cost/train_tokens": float(cost["train_tokens"]),
            "cost/generated_tokens": float(cost["generated_tokens"]),
            "cost/judge_calls": float(judge["calls"]), "cost/judge_from_store": float(judge["from_store"])}
    if judge["verdicts_per_s"] is not None:
        out["cost/judge_verdicts_per_s"] = float(judge["verdicts_per_s"])
    return out


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill
    return [r for r in rows if isinstance(r, dict)]


def cost_section(cost: Mapping[str, Any], table: Any) -> list[str]:
    """Terminal lines: one row per training, then the judge and the run's split.
    `table(headers, rows)` is the report's table formatter (passed in: no import cycle)."""
    rows = [[t["training_id"], _hms(t["wall_s"]), f"{t['gpus']:g}", f"{t['gpu_hours']:.3f}",
             t["train_tokens"], t["generated_tokens"]] for t in cost["trainings"]]
    j, s, g = cost["judge"], cost["seconds"], cost["gpu_hours"]
    rate = "" if j["verdicts_per_s"] is None else f", {j['verdicts_per_s']:.1f} verdicts/s"
    return ["== Cost ==",
            table(["training", "wall", "GPUs", "GPU-hours", "tokens trained", "tokens generated"], rows),
            f"judge: {j['calls']} calls, {j['from_store']} verdicts served from the store,"
            f" {_hms(j['seconds'])} in calls{rate}",
            f"time: training {_hms(s['training'])}, generation {_hms(s['generation'])},"
            f" judging {_hms(s['judging'])}; GPU-hours: training {g['training']:.3f},"
            f" generation {g['generation']:.3f}, judging {g['judging']:.3f}"]


def _hms(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"
