"""Where this training process sits in its trial: rank, world size, device.

One worker (the default) is rank 0 of a world of 1 and every collective is a no-op. With
`resources.workers_per_trial: N` the trial runs N Ray Train workers; Ray Train has already set
up the torch process group (gloo on CPU, nccl on GPU), which these helpers use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Rank 0 alone writes files (answers, loss log, states, weights)."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (one all-reduce for the whole list)."""
        if self.world == 1 or not values:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        torch.distributed.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def gather(self, value: float) -> list[float]:
        """Every rank's `value`, by rank."""
        slots = [0.0] * self.world
        slots[self.rank] = float(value)
        return self.sum(slots)

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def local() -> Dist:
    """A single process: the GPU if this trial sees one (Ray sets CUDA_VISIBLE_DEVICES)."""
    return Dist(0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
