"""System metrics of a training, sampled where it runs (rank 0's process) with each step event.

MLflow's own `SystemMetricsMonitor` logs from a thread straight into a run, which does not fit
a trial: the driver owns the child run ids and creates them lazily, a trial on another node may
not reach the tracking store, and importing mlflow costs a trial process about 2.5 s. So the
trial samples the same figures with psutil (and torch for GPUs) and puts them in its `step`
events; the driver logs them on the child run under MLflow's own names (`system/...`), which
MLflow's UI shows in the run's "System metrics" tab, at the step's global step.

What is sampled: the machine rank 0 runs on (CPU use since the last sample, memory used), the
rank-0 process with its children (resident memory), and every GPU that process sees (memory
used; utilisation only where `pynvml` is installed). Other ranks' nodes are not sampled.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Any


class SystemSampler:
    """A sample at most every `interval_s` (MLflow's own default: 10 s; the first call always
    samples), else {}: listing the process's children takes about 1 ms. CPU use is the mean
    since the previous sample (or since creation)."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s, self.last = interval_s, -math.inf
        try:
            import psutil
        except ImportError:  # no psutil: no system metrics, training goes on
            self.psutil: Any = None
            return
        self.psutil = psutil
        self.process = psutil.Process()
        psutil.cpu_percent(None)  # starts the window the first sample measures

    def sample(self) -> dict[str, float]:
        """MLflow's system-metric names (without the `system/` prefix) -> value."""
        now = time.monotonic()
        if self.psutil is None or now - self.last < self.interval_s:
            return {}
        self.last = now
        mem = self.psutil.virtual_memory()
        out = {"cpu_utilization_percentage": float(self.psutil.cpu_percent(None)),
               "system_memory_usage_megabytes": round(mem.used / 1e6, 1),
               "system_memory_usage_percentage": round(mem.used / mem.total * 100, 1),
               "trial_memory_rss_megabytes": round(self._rss() / 1e6, 1)}
        return out | gpu_sample()

    def _rss(self) -> int:
        """Resident memory of this process and its children (a child gone meanwhile counts 0)."""
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except self.psutil.Error:
                continue
        return int(total)


def gpu_sample() -> dict[str, float]:
    """Each visible CUDA device's memory in use (and utilisation with pynvml); {} without CUDA."""
    torch = sys.modules.get("torch")  # the trial has imported it; never import it just for this
    if torch is None or not torch.cuda.is_available():
        return {}
    out: dict[str, float] = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out[f"gpu_{i}_memory_usage_megabytes"] = round((total - free) / 1e6, 1)
        out[f"gpu_{i}_memory_usage_percentage"] = round((total - free) / total * 100, 1)
        with contextlib.suppress(Exception):  # torch needs pynvml for utilisation; memory still counts
            out[f"gpu_{i}_utilization_percentage"] = float(torch.cuda.utilization(i))
    return out
