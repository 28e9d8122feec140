"""The answer store: what every candidate answered on the validation set.

Format `hpo.answers/v1`, one JSON file per candidate at `<run_dir>/answers/<candidate_id>.json`:

    {
      "format": "hpo.answers/v1",
      "candidate_id": "adamw-lr2e-05-cosine-ep3",
      "training_id": "adamw-lr2e-05-cosine",
      "epoch": 3,
      "spec": {...TrainingSpec fields...},
      "metrics": {"train_loss": 1.23, "exact_match": 0.41, "generation_seconds": 0.8, ...},
      "answers": [{"id": "v0", "instruction": "...", "input": "...", "output": "..."}, ...]
    }

Files are written atomically, so a file that exists is complete. The judge and tournament read
only this format; they never look inside trials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.atomic import atomic_write_json
from hpo.types import Example, TrainingSpec

FORMAT = "hpo.answers/v1"


@dataclass(frozen=True)
class CandidateAnswers:
    candidate_id: str
    spec: TrainingSpec
    epoch: int
    answers: list[str]  # aligned with the validation set order
    metrics: dict[str, float]

    @property
    def training_id(self) -> str:
        return self.spec.training_id


class AnswerStore:
    """Reads and writes `hpo.answers/v1` files under one run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir) / "answers"

    def path(self, candidate_id: str) -> Path:
        return self.dir / f"{candidate_id}.json"

    def exists(self, candidate_id: str) -> bool:
        return self.path(candidate_id).exists()

    def write(self, spec: TrainingSpec, epoch: int, examples: list[Example], outputs: list[str],
              metrics: dict[str, float]) -> Path:
        cid = spec.candidate_id(epoch)
        payload: dict[str, Any] = {
            "format": FORMAT, "candidate_id": cid, "training_id": spec.training_id,
            "epoch": epoch, "spec": spec.to_dict(), "metrics": metrics,
            "answers": [{"id": ex.id, "instruction": ex.instruction, "input": ex.input, "output": out}
                        for ex, out in zip(examples, outputs, strict=True)],
        }
        atomic_write_json(self.path(cid), payload)
        return self.path(cid)

    def read(self, candidate_id: str) -> CandidateAnswers:
        data = json.loads(self.path(candidate_id).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{self.path(candidate_id)}: unsupported answers format {data.get('format')!r}")
        return CandidateAnswers(data["candidate_id"], TrainingSpec.from_dict(data["spec"]), data["epoch"],
                                [a["output"] for a in data["answers"]], data.get("metrics", {}))

    def available(self) -> list[str]:
        """Candidate ids whose answers are complete on disk."""
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.exists() else []
