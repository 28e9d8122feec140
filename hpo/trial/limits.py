"""Training limits shared by every stepper (plain torch and DeepSpeed)."""

from __future__ import annotations

MAX_GRAD_NORM = 1.0  # gradient clipping, the same for every stepper
