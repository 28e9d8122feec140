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

Files are written atomically, so a file that exists is complete unless something else damaged
it: `problem` says what is wrong with a file, a resume sets such a file aside and re-runs its
training (`hpo.run.inputs.repair_answers`), and `read` refuses one with a one-line ConfigError.
The judge and tournament read only this format; they never look inside trials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.types import Example, TrainingSpec
from judge.atomic import atomic_write_json

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
        """The candidate's answers; a damaged file is a one-line error saying how to fix it."""
        try:
            return self._parse(candidate_id)
        except ValueError as exc:
            raise ConfigError(f"{self.path(candidate_id)}: not a usable answers file ({exc}); resume the"
                              f" run (hpo run --resume {self.dir.parent}) to regenerate it") from None

    def problem(self, candidate_id: str, n_items: int) -> str | None:
        """Why the stored file is not `n_items` answers in this format (None when it is)."""
        try:
            got = len(self._parse(candidate_id).answers)
        except ValueError as exc:
            return str(exc)
        return None if got == n_items else f"{got} answers for {n_items} validation items"

    def _parse(self, candidate_id: str) -> CandidateAnswers:
        """Read and check one file; ValueError (a short reason) for anything malformed."""
        try:
            data = json.loads(self.path(candidate_id).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(exc.strerror or "unreadable") from None
        except ValueError:  # truncated JSON, not UTF-8
            raise ValueError("not complete JSON") from None
        except RecursionError:
            raise ValueError("nested too deeply") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"format {found!r}, expected {FORMAT!r}")
        try:
            outputs = [a["output"] for a in data["answers"]]
            spec = TrainingSpec.from_dict(data["spec"])
            answers = CandidateAnswers(str(data["candidate_id"]), spec, int(data["epoch"]), outputs,
                                       dict(data.get("metrics") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed {exc.__class__.__name__}: {str(exc)[:80]}") from None
        if answers.candidate_id != candidate_id or not all(isinstance(o, str) for o in outputs):
            raise ValueError("not this candidate's answers")
        return answers

    def available(self) -> list[str]:
        """Candidate ids whose answers are complete on disk."""
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.exists() else []
