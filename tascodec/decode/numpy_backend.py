"""The numpy backend: runs a ``Plan`` (see ``plan.py``) into a preallocated ``(T, D) float32`` block.

One GEMM ``hidden @ [W2'^T; b2']`` gives the direct frames (written into place) and every affine
instance's ``alpha``/``beta``. Each affine instance's frames are then one small product ``X @ W`` with
``X (n, 2 + E) = [1, c, relu(u_S + c w_S)]`` and ``W (2 + E, D) = [alpha; beta; W2'[:, S]^T]`` (``S`` its
``E`` switching units), which writes every output row exactly once: the output is the memory traffic
that matters.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from .plan import Plan, Prepared, ragged_arange

# direct rows multiplied at once when they must be scattered: the product stays in cache
DIRECT_BLOCK = 256
# entries of the affine groups' X from which their products are split over BLAS's threads
PARALLEL_MIN = 1 << 15

Matmul = Callable[[np.ndarray, np.ndarray, np.ndarray], None]  # (a, b, out): out = a @ b


def _np_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(a, b, out=out)


def run_mlp(prep: Prepared, plan: Plan, out: np.ndarray, matmul: Matmul = _np_matmul,
            threads: int | None = None) -> None:
    """Fill ``out (T, D)`` with the frames of ``plan``.

    ``matmul`` runs every product (the torch CPU backend passes MKL's); the per-instance products
    are split over ``threads`` threads (default: as many as numpy's BLAS uses).
    """
    hidden, w2tb = plan.hidden, prep.w2tb
    Td, T = plan.direct_frame.size, out.shape[0]
    if Td == T:  # every frame direct, in order: the plain batched MLP straight into the output
        if T:
            matmul(hidden, w2tb, out)
        return
    if Td:
        _run_direct(plan.direct_frame, hidden[:Td], w2tb, out, matmul)
    _run_affine(prep, plan, out, matmul, threads)


def _run_direct(frame: np.ndarray, hidden: np.ndarray, w2tb: np.ndarray, out: np.ndarray, matmul: Matmul) -> None:
    """``out[frame] = hidden @ w2tb``: contiguous runs straight into ``out``, the rest through a buffer."""
    buf = None
    for s in range(0, frame.size, DIRECT_BLOCK):
        e = min(frame.size, s + DIRECT_BLOCK)
        f0, f1 = int(frame[s]), int(frame[e - 1]) + 1
        if f1 - f0 == e - s:  # consecutive frames
            matmul(hidden[s:e], w2tb, out[f0:f1])
            continue
        if buf is None:
            buf = _scratch("direct", DIRECT_BLOCK, w2tb.shape[1])
        matmul(hidden[s:e], w2tb, buf[:e - s])
        out[frame[s:e]] = buf[:e - s]


def _run_affine(prep: Prepared, plan: Plan, out: np.ndarray, matmul: Matmul, threads: int | None) -> None:
    """The affine groups: ``alpha``/``beta`` from the GEMM, then one ``X_j @ W_j`` per group."""
    Na = plan.affine.size
    if not Na:
        return
    Td = plan.direct_frame.size
    D = prep.feature_dim
    n = np.diff(plan.frame_off)[plan.affine]
    f0 = plan.frame_off[plan.affine]
    width = 2 + np.diff(plan.ev_off)
    table_off = np.concatenate(([0], np.cumsum(width)))
    x_off = np.concatenate(([0], np.cumsum(n * width)))

    # W: per group alpha, beta, then its switching units' rows of w2t, gathered in one pass from
    # ``source = [w2t; alpha_0; beta_0; alpha_1; ...]`` (the GEMM writes after the w2t rows)
    H = prep.w2t.shape[0]
    source = _source(prep, 2 * Na)
    matmul(plan.hidden[Td:], prep.w2tb, source[H:H + 2 * Na])
    pick = np.empty(int(table_off[-1]), np.int64)
    pick[table_off[:-1]] = np.arange(H, H + 2 * Na, 2)
    pick[table_off[:-1] + 1] = np.arange(H + 1, H + 2 * Na, 2)
    group_of_event = np.repeat(np.arange(Na), width - 2)
    event_rank = np.arange(plan.ev_unit.size) - plan.ev_off[group_of_event]
    pick[table_off[group_of_event] + 2 + event_rank] = plan.ev_unit
    table = source[pick]

    # X: frame r of affine group j is x[x_off[j] + r * width[j] + (0, 1, 2 + e)]
    g = np.repeat(np.arange(Na), n)
    local = ragged_arange(n)
    base = x_off[g] + local * width[g]
    x = np.empty(int(x_off[-1]), np.float32)
    x[base] = 1
    x[base + 1] = plan.c[f0[g] + local]
    # pair_frame -> its position among the affine frames (groups ascending, so searchsorted works)
    aff_start = np.concatenate(([0], np.cumsum(n)))
    j = np.repeat(np.arange(Na), np.diff(plan.ev_off))[plan.pair_event]
    pos = aff_start[j] + plan.pair_frame - f0[j]
    x[base[pos] + 2 + event_rank[plan.pair_event]] = plan.pair_value

    fs, ns, t, xo = f0.tolist(), n.tolist(), table_off.tolist(), x_off.tolist()

    def products(k0: int, k1: int) -> None:
        for k in range(k0, k1):
            a, rows = fs[k], ns[k]
            matmul(x[xo[k]:xo[k + 1]].reshape(rows, -1), table[t[k]:t[k + 1]], out[a:a + rows])

    threads = (blas_threads() or 1) if threads is None else threads
    if threads < 2 or x.size < PARALLEL_MIN:
        products(0, Na)
        return
    # np.matmul releases the GIL: split the groups into runs of about equal work, one per thread
    cuts = np.searchsorted(x_off, np.linspace(0, x.size, threads + 1)[1:-1]).tolist()
    bounds = list(zip([0] + cuts, cuts + [Na]))
    for f in [_pool(threads).submit(products, a, b) for a, b in bounds[1:]] + [None]:
        if f is None:
            products(*bounds[0])
        else:
            f.result()


def blas_threads() -> int | None:
    """Threads numpy's OpenBLAS uses now (``None`` when numpy's BLAS is not an OpenBLAS found here)."""
    lib = _openblas()
    return None if lib is None else int(lib[0]())


def set_blas_threads(n: int) -> bool:
    """Make numpy's OpenBLAS use ``n`` threads from now on (e.g. 1 per ``DataLoader`` worker, so
    that workers do not oversubscribe the cores); ``False`` when that BLAS is not found."""
    lib = _openblas()
    if lib is not None:
        lib[1](int(n))
    return lib is not None


_OPENBLAS: list = []
_LOCAL = threading.local()  # per-thread work buffers, reused across windows and calls


def _scratch(name: str, rows: int, cols: int) -> np.ndarray:
    """A ``(rows, cols) float32`` work buffer of this thread (contents undefined)."""
    buf = getattr(_LOCAL, name, None)
    if buf is None or buf.shape[0] < rows or buf.shape[1] != cols:
        buf = np.empty((rows, cols), np.float32)
        setattr(_LOCAL, name, buf)
    return buf[:rows]


def _source(prep: Prepared, rows: int) -> np.ndarray:
    """This thread's ``(H + rows, D)`` buffer whose first ``H`` rows are ``prep.w2t`` (kept for the last decoder)."""
    H, D = prep.w2t.shape
    buf = getattr(_LOCAL, "source", None)
    if buf is None or getattr(_LOCAL, "source_of", None) is not prep or buf.shape[0] < H + rows:
        buf = np.empty((H + max(rows, 512), D), np.float32)
        buf[:H] = prep.w2t
        _LOCAL.source, _LOCAL.source_of = buf, prep
    return buf
_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    """A pool of ``threads - 1`` workers (the caller is the last), per process: a forked child gets its own."""
    key = (os.getpid(), threads)
    pool = _POOL.get(key)
    if pool is None:
        _POOL.clear()
        pool = _POOL[key] = ThreadPoolExecutor(threads - 1, thread_name_prefix="tascodec-decode")
    return pool


def _openblas():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS that numpy loaded, or ``None``."""
    if not _OPENBLAS:
        import ctypes
        import glob

        found = None
        root = os.path.dirname(np.__file__)
        for path in sorted(glob.glob(os.path.join(root + ".libs", "*openblas*"))
                           + glob.glob(os.path.join(root, ".dylibs", "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "64_"),
                                   ("openblas_", "")):
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    found = (get, put)
                    break
            if found:
                break
        _OPENBLAS.append(found)
    return _OPENBLAS[0]


def run_repeat(codes: np.ndarray, row: np.ndarray, out: np.ndarray) -> None:
    """The repeat decoder: frame ``t`` is code row ``row[t]``."""
    np.take(codes, row, axis=0, out=out)
