"""Test-wide settings.

The tests use tiny models and tensors, where intra-op threading is pure overhead (and, on a
busy machine, spinning threads make a 5 s test take 30 s). One thread per process, also for the
subprocesses that tests start (examples, torchrun ranks).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
