"""The judge's GPUs are inside Ray's accounting: a cluster with 8 fake GPUs (CPU machine).

`hpo serve-judge --ray` starts the judge server (here the scripted OpenAI server standing in for
vLLM, started through the same code path) in a Ray actor that holds 2 GPUs. Trials then ask
Ray for 2 GPUs each, as `hpo run` does, with no concurrency limit from Tune: Ray itself must
keep them off the judge's GPUs and fit exactly the number of trials `--dry-run` printed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.raycluster import LocalCluster, free_port

pytestmark = pytest.mark.integration

EXPERIMENT = """\
name: gpu-plan
judge: {backend: reference, serve: {gpus: 2, port: PORT}}
search: {max_concurrent: 3}
resources: {cpus_per_trial: 1, gpus_per_trial: 2, gpus_per_node: 8}
data: {synthetic: {n_train: 50, n_validation: 8}}
"""
FAKE_VLLM = """\
#!{python}
# Stands in for `python -m vllm.entrypoints.openai.api_server ... --port P`: records the GPUs
# it was given, then serves /health and /v1/completions like the real server.
import os, sys, time
sys.path.insert(0, {repo!r})
port = int(sys.argv[sys.argv.index("--port") + 1])
open({record!r}, "w").write(os.environ.get("CUDA_VISIBLE_DEVICES", ""))
from tests.helpers.openai_stub import OpenAIStub
OpenAIStub(port=port).start()
while True:
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    try:
        c.start_head(num_cpus=8, num_gpus=8)
        yield c
    finally:
        left = c.stop()
        assert not left, f"cluster processes survived teardown: {left}"


TUNE_SCRIPT = """\
import json, os, sys, time
sys.path.insert(0, {repo!r})
import ray
from ray import tune
from hpo.search.cluster import trial_resources
from hpo.run.experiment import load_experiment

def trial(config):
    start = time.time()
    time.sleep(3)
    tune.report({{"gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()), "start": start,
                 "end": time.time(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "")}})

ray.init(address={address!r}, log_to_driver=False)
free = ray.available_resources().get("GPU")
tuner = tune.Tuner(tune.with_resources(trial, trial_resources(load_experiment({exp!r}))),
                   param_space={{"i": tune.grid_search(list(range({n})))}},
                   run_config=tune.RunConfig(storage_path={storage!r}, verbose=0))
print(json.dumps({{"free_gpus": free, "results": [r.metrics for r in tuner.fit()]}}))
"""


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


def test_trials_never_get_the_judges_gpus(gpu_cluster: LocalCluster, tmp_path: Path) -> None:
    c, port = gpu_cluster, free_port()
    record = tmp_path / "judge_gpus.txt"
    fake = tmp_path / "fake-vllm"
    fake.write_text(FAKE_VLLM.format(python=sys.executable, repo=str(REPO), record=str(record)))
    fake.chmod(0o755)
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.replace("PORT", str(port)))

    plan = subprocess.run([sys.executable, "-m", "hpo.cli", "run", "-e", str(exp), "--dry-run",
                           "--run-root", str(tmp_path / "runs")], capture_output=True, text=True,
                          env=c.env, cwd=REPO, timeout=300)
    assert plan.returncode == 0, plan.stderr[-2000:]
    m = re.search(r"GPUs: judge (\d+) \(Ray actor\) \+ trials (\d+) x (\d+)", plan.stdout)
    assert m, plan.stdout
    judge_gpus, slots, per_trial = map(int, m.groups())
    assert "--ray" in plan.stdout and not (tmp_path / "runs").exists()

    served = subprocess.run([sys.executable, "-m", "hpo.cli", "serve-judge", "stub-judge", "--ray", "--detach",
                             "--address", c.address, "--gpus", str(judge_gpus), "--python", str(fake),
                             "--port", str(port), "--wait", "120"],
                            capture_output=True, text=True, env=c.env, cwd=REPO, timeout=300)
    assert served.returncode == 0, served.stdout[-2000:] + served.stderr[-2000:]
    held = set(record.read_text().split(","))
    printed = re.search(r"gpus=(\S+)", served.stdout)
    assert len(held) == judge_gpus and printed and set(printed.group(1).split(",")) == held

    # Tune runs in its own process with the cluster's environment: Ray reads its auth settings
    # when it is first imported, which in this test process may have happened long before
    script = TUNE_SCRIPT.format(repo=str(REPO), address=c.address, exp=str(exp), n=2 * slots,
                                storage=str(tmp_path / "ray"))
    tuned = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=c.env,
                           cwd=REPO, timeout=600)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    out = json.loads(tuned.stdout.strip().splitlines()[-1])
    assert out["free_gpus"] == 8 - judge_gpus
    results = out["results"]
    assert len(results) == 2 * slots
    for r in results:
        ids = set(str(r["gpu_ids"]).split(","))
        assert len(ids) == per_trial and not ids & held, (ids, held)
        assert set(str(r["cuda"]).split(",")) == ids
    assert _max_overlap([(float(r["start"]), float(r["end"])) for r in results]) == slots
