"""Helpers shared by several test modules."""
from __future__ import annotations

import time
import tracemalloc


def bounded(fn, seconds: float = 2.0, mb: int = 256):
    """Run ``fn`` under tracemalloc; assert its CPU time and peak; return ``(result, seconds, peak bytes)``."""
    tracemalloc.start()
    t = time.process_time()
    try:
        out = fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    took = time.process_time() - t
    assert took < seconds, f"{took:.2f} s CPU"
    assert peak < mb << 20, f"{peak / 2**20:.0f} MiB peak"
    return out, took, peak
