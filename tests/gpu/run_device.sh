#!/usr/bin/env bash
# The GPU tier as one command (docs/gpu.md). Two steps, on two machines:
#
#   tests/gpu/run_device.sh wheels      here, where pip reaches a package index: put into
#                                       .gpu-wheels/ the wheels the GPU machine lacks (pydantic
#                                       and its parts, DeepSpeed and hjson), checked < 64 MiB
#   tests/gpu/run_device.sh [ARGS]      on the GPU machine, from the repository root: install
#                                       .gpu-wheels/ into a temporary folder (no index needed),
#                                       then `pytest -m gpu tests/gpu ARGS` under a 9-minute limit;
#                                       the log and the memory numbers go to $OUT when it is set
#
# HPO_GPU_TIER_DEVICE=cpu runs the same tests on the CPU: a check of the test code, not of a GPU.
# Settings: PYTHON (default python3), HPO_GPU_WHEELS (default .gpu-wheels),
# GPU_PYTHON_VERSION (wheels for this Python, default 3.12: the GPU machine's),
# HPO_GPU_TIER_TIMEOUT (seconds, default 540).
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEELS=${HPO_GPU_WHEELS:-.gpu-wheels}
PY=${PYTHON:-python3}
LIMIT_MIB=64
# What hpo's trial, model and judge modules import that the GPU machine does not have.
PURE=(pydantic annotated-types typing-inspection typing-extensions hjson)
COMPILED=(pydantic-core)

pinned() {  # NAME==VERSION as installed in the project's venv, so the GPU runs the tested versions
    "$PY" -c "import importlib.metadata as m, sys; print(f'{sys.argv[1]}=={m.version(sys.argv[1])}')" "$1"
}

fetch_wheels() {
    local ver=${GPU_PYTHON_VERSION:-3.12} specs=()
    mkdir -p "$WHEELS"
    for name in "${PURE[@]}" "${COMPILED[@]}"; do specs+=("$(pinned "$name")"); done
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$ver" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${specs[@]}"
    # DeepSpeed publishes only an sdist; its wheel is pure Python (ops are compiled just in time).
    "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" "$(pinned deepspeed)"
    local bytes
    bytes=$(du -cb "$WHEELS"/*.whl | tail -1 | cut -f1)
    ls -l "$WHEELS"
    echo "wheels: $((bytes / 1024)) KiB in all (limit ${LIMIT_MIB} MiB)"
    [ "$bytes" -lt $((LIMIT_MIB * 1024 * 1024)) ] || { echo "wheels exceed ${LIMIT_MIB} MiB" >&2; exit 1; }
}

install_wheels() {  # into a fresh folder ahead of the machine's own packages
    local site
    site=$(mktemp -d /tmp/hpo-gpu-site.XXXXXX)
    if compgen -G "$WHEELS/*.whl" > /dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$WHEELS"/*.whl
        echo "carried: $(cd "$WHEELS" && ls ./*.whl | sed 's|^\./||' | tr '\n' ' ')"
    else
        echo "carried: nothing ($WHEELS/ has no wheels: tests needing them fail or skip)"
    fi
    export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
}

run_tier() {
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    local log=/dev/null
    if [ -n "${OUT:-}" ]; then
        export HPO_GPU_TIER_OUT="$OUT"
        log="$OUT/gpu-tier.log"
    fi
    {  # one pipeline: the wheels' install lines land in the log too
        date -u +"%Y-%m-%dT%H:%M:%SZ"
        install_wheels
        command -v nvidia-smi > /dev/null && nvidia-smi -L || echo "nvidia-smi: not found"
        "$PY" -c "import sys, torch, transformers, peft; print('python', sys.version.split()[0], '| torch', \
torch.__version__, '| cuda', torch.version.cuda, torch.cuda.is_available(), '| transformers', \
transformers.__version__, '| peft', peft.__version__)"
        echo "device: ${HPO_GPU_TIER_DEVICE:-cuda}"
        timeout "${HPO_GPU_TIER_TIMEOUT:-540}" "$PY" -m pytest -m gpu tests/gpu -v -s -rs "$@"
    } 2>&1 | tee "$log"
}

if [ "${1:-}" = "wheels" ]; then
    fetch_wheels
else
    run_tier "$@"
fi
