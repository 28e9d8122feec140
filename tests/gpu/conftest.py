"""GPU tier: runs on a CUDA machine with torch, transformers, peft and accelerate only.

No Ray, MLflow, DeepSpeed or vLLM exists there, so nothing here may import them; each test
checks that. Every test is skipped where CUDA is not available.
"""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "tests/gpu/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
