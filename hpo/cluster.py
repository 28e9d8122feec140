"""Checks for running on a Ray cluster, made before anything is written (issue 11).

`hpo run --address HOST:PORT` joins a cluster from one of its nodes. A `ray://` (Ray Client)
address is refused: under Ray Client, Ray Tune's driver loop runs on the cluster, so the
callbacks that carry results to this process would run there and every candidate would end
"missing". `ray job submit` runs `hpo run` on the head instead, which is the supported way to
launch from a laptop (docs/cluster.md).
"""

from __future__ import annotations

import os

from hpo.config import ExperimentConfig
from hpo.errors import ConfigError

JOB_HINT = ("submit the run to the cluster instead: ray job submit --address http://HEAD:8265 "
            "--working-dir . -- hpo run ...  (docs/cluster.md)")


def check_address(address: str | None) -> None:
    """One-line ConfigError for addresses `hpo run` cannot drive trials through."""
    if address is None:
        return
    if address.startswith("ray://"):
        raise ConfigError(f"resources.address {address}: Ray Client (ray://) is not supported; "
                          + JOB_HINT)
    if address.startswith(("http://", "https://")):
        raise ConfigError(f"resources.address {address} is a dashboard (Jobs API) address; use "
                          "the GCS address HOST:6379 from a cluster node, or " + JOB_HINT)


def cluster_address(cfg: ExperimentConfig) -> str | None:
    """The cluster to join: `resources.address`, else the one a Ray job runs in (RAY_ADDRESS,
    set by `ray job submit`), else None (start a local Ray)."""
    return cfg.resources.address or os.environ.get("RAY_ADDRESS") or None


def validate_cluster(cfg: ExperimentConfig) -> None:
    """Cluster settings that can be checked on the driver alone."""
    from hpo.trial.transport import remote_trials

    check_address(cluster_address(cfg))
    adaptive = cfg.search.search != "grid" or cfg.search.scheduler != "none"
    if adaptive and remote_trials(cfg):
        raise ConfigError("adaptive search (search.search/scheduler) judges inside trials and needs "
                          "the run folder on every node: set run.transport: disk with a shared "
                          "filesystem, or use the grid")
