"""The documented launch (one 8-GPU node, a cluster) is the one the plan prints, and each joint
it passes through: trial transport on a joined cluster, joining a Ray started with `ray start`,
the judge's own Python, where the judge actor runs, and the base model on every node."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hpo.config.schema import ExperimentConfig
from hpo.errors import ConfigError
from hpo.run.experiment import load_experiment
from hpo.search import cluster
from hpo.trial import transport

REPO = Path(__file__).resolve().parents[3]


def _bloom() -> ExperimentConfig:
    path = REPO / "experiments" / "bloom-7b.yaml"
    if not path.is_file():
        path = REPO / "hpo" / "assets" / "experiments" / "bloom-7b.yaml"
    return load_experiment(path)


def _documented(text: str, start: str) -> list[str]:
    """Every command in `text` that starts with `start` (comment markers and `\\` joins removed)."""
    lines = [re.sub(r"^\s*#\s?", "", ln) if ln.lstrip().startswith("#") else ln for ln in text.splitlines()]
    joined = re.sub(r"\\\n\s*", "", "\n".join(lines))
    return [re.sub(r"\s+#.*$", "", m.strip()) for m in re.findall(rf"^\s*({re.escape(start)}.*)$",
                                                                 joined, re.M)]


def _sources() -> dict[str, str]:
    yaml_path = REPO / "experiments" / "bloom-7b.yaml"
    if not yaml_path.is_file():
        yaml_path = REPO / "hpo" / "assets" / "experiments" / "bloom-7b.yaml"
    return {"README.md": (REPO / "README.md").read_text(), "docs/cluster.md":
            (REPO / "docs" / "cluster.md").read_text(), "bloom-7b.yaml": yaml_path.read_text()}


def test_the_judge_is_started_with_its_own_venvs_python() -> None:
    cmd = cluster.serve_command(_bloom())
    assert "--python .venv-judge/bin/python" in cmd and "--ray" in cmd
    cfg = _bloom()
    cfg.judge.serve.python = "/opt/vllm/bin/python"  # type: ignore[union-attr]
    assert "--python /opt/vllm/bin/python" in cluster.serve_command(cfg)


def test_documented_launch_commands_are_the_ones_the_plan_prints() -> None:
    cfg = _bloom()
    split = cluster.gpu_split(cfg)
    assert split is not None
    one_node = cluster.launch_commands(cfg)
    assert one_node[0] == "ray start --head --num-gpus 8" and one_node[1] == cluster.serve_command(cfg)
    assert one_node[2].startswith("hpo run") and one_node[2].endswith("--address 127.0.0.1:6379")
    for cmd in one_node[:2]:
        assert cmd in split  # what --dry-run prints
    for name, text in _sources().items():
        assert _documented(text, "ray start --head") and all(
            c == one_node[0] or c.startswith("ray start --head --port 6379 --num-gpus 8")
            for c in _documented(text, "ray start --head")), name
        served = _documented(text, "hpo serve-judge")
        assert served and all(c == one_node[1] for c in served), (name, served)
    for name in ("README.md", "docs/cluster.md"):
        runs = [c for c in _documented(_sources()[name], "hpo run") if "--address 127.0.0.1:6379" in c]
        assert runs, name


def test_documented_cluster_launch_is_the_one_the_plan_prints() -> None:
    cfg = _bloom()
    printed = cluster.cluster_commands(cfg, head="10.0.0.1")
    assert all(cmd.replace("10.0.0.1", "HEAD") in str(cluster.gpu_split(cfg)) for cmd in printed[:3])
    docs = _sources()["docs/cluster.md"]
    assert _documented(docs, "ray start --head --port") == [printed[0]]
    assert _documented(docs, "ray start --address") == [printed[1]]
    runs = [c for c in _documented(docs, "hpo run") if "--address 10.0.0.1:6379" in c]
    assert runs and all(r.endswith(printed[3].split("--address 10.0.0.1:6379")[1]) for r in runs)


def test_auto_transport_follows_the_clusters_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One node behind --address 127.0.0.1:6379 (the documented one-node launch): disk, so two
    workers per trial are fine; several nodes: Ray, and two workers per trial are refused with
    the exact fix."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = _bloom()
    cfg.resources.address = "127.0.0.1:6379"
    cluster.validate_cluster(cfg)  # decided when the cluster is joined, not refused up front
    assert cluster.resolve_transport(cfg, nodes=1) == "disk" and not transport.remote_trials(cfg)
    cfg = _bloom()
    cfg.resources.address = "10.0.0.1:6379"
    with pytest.raises(ConfigError, match=r"--set run.transport=disk") as err:
        cluster.resolve_transport(cfg, nodes=3)
    assert "3 nodes" in str(err.value) and "\n" not in str(err.value)
    cfg = _bloom()
    cfg.run.transport = "disk"
    assert cluster.resolve_transport(cfg, nodes=3) == "disk"


def test_hpo_run_joins_a_ray_started_with_ray_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ray start --head` then `hpo run` without --address: join it (Ray rejects num_cpus then)."""
    import ray

    from hpo.search import tuner

    calls: list[dict[str, Any]] = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(cluster, "local_cluster", lambda: "127.0.0.1:6379")
    tuner.ensure_ray(ExperimentConfig())
    assert calls and "num_cpus" not in calls[0] and calls[0]["address"] == "127.0.0.1:6379"
    calls.clear()
    monkeypatch.setattr(cluster, "local_cluster", lambda: None)
    tuner.ensure_ray(ExperimentConfig())
    assert calls[0]["num_cpus"] >= 1 and calls[0].get("address") in (None, "local")


def test_the_judge_actor_is_pinned_to_the_node_that_starts_it() -> None:
    from judge.ray_serve import actor_options

    opts = actor_options(port=8000, gpus=2, cpus=1, detach=False, node_id="ab" * 28)
    strategy = opts["scheduling_strategy"]
    assert strategy.node_id == "ab" * 28 and strategy.soft is False
    assert opts["name"] == "hpo-judge-8000" and opts["num_gpus"] == 2
    assert "scheduling_strategy" not in actor_options(8000, 2, 1, False, node_id=None)


def test_a_hub_base_is_found_by_repo_id_on_the_loading_node(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """base.json names the hub id, never the driver's absolute cache path; each node (and a
    CPU-only driver) resolves it in its own cache."""
    from hpo.config.schema import ModelConfig
    from hpo.models import load

    node_cache = tmp_path / "node-cache" / "snapshots" / "abc"
    node_cache.mkdir(parents=True)
    monkeypatch.setattr(load, "hub_snapshot", lambda resolved: (_ for _ in ()).throw(
        AssertionError("the driver needs neither weights nor a GPU to stage the base")))
    base = load.prepare_base(ModelConfig(name="bloom-7b"), [], tmp_path / "base", seed=0)
    info = json.loads((base / "base.json").read_text())
    assert info["repo_id"] == "bigscience/bloom-7b1" and not info.get("path")
    monkeypatch.setattr(load, "node_snapshot", lambda repo_id: node_cache)
    assert load.base_source(base)[1] == node_cache
