"""Small hostile containers (issue 11) and what opening them costs: CPU seconds and peak traced memory.

    python benchmarks/hostile.py [--tree DIR] [--cases a,b,...]

Crafts each file with this checkout, then opens it in a fresh interpreter that imports tascodec
from ``--tree`` (default: this checkout; pass an older checkout, e.g. from ``git archive``, for the
before figures) and reports what happened. Each case runs with a 60 s CPU and 6 GiB memory cap.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import google_crc32c
import numcodecs.zstd
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tascodec.container import Content, Decoder, write_container  # noqa: E402
from tascodec.container.layout import array_doc  # noqa: E402

CHILD = r"""
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
sys.path.insert(0, sys.argv[1])
import tascodec, tracemalloc
import tascodec.container.reader  # imports are not the file's doing
tracemalloc.start()
t = time.process_time()
try:
    with tascodec.open(sys.argv[2]) as c:
        what = "opened"
        if sys.argv[3] == "labels":
            what = f"labels {c.labels(0).shape}"
except BaseException as e:
    what = f"{type(e).__name__}: {str(e)[-90:]}"
cpu = time.process_time() - t
print(f"{cpu:.2f}|{tracemalloc.get_traced_memory()[1] / 2**20:.0f}|{what}")
"""


def content(videos=("a", "b"), lengths=(3, 4)) -> Content:
    D, d, C, H = 4, 3, 2, 4
    rng = np.random.default_rng(0)
    shapes = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
    dec = Decoder("mlp", D, d, C, H, weights={k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()})
    n = len(videos)
    lng = np.array(lengths, np.int64)
    inst = np.ones(n, np.int32)
    return Content(vocab=["bg", "x"], videos=list(videos), video_segments=np.arange(n + 1), seg_label=np.zeros(n, np.int32),
                   seg_length=lng, seg_instances=inst, decoder=dec,
                   codes=rng.standard_normal((n, d)).astype(np.float32), provenance={"method": "x"})


def entries(c: Content, tmp: Path) -> dict[str, bytes]:
    p = write_container(c, tmp / "base.tasz", force=True, created="2000-01-01T00:00:00Z")
    with zipfile.ZipFile(p) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def pack(e: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in e.items():
            zf.writestr(k, v)
    return path


def zero_array(e, name, shape, dtype, rows):
    for k in [k for k in e if k.startswith(name + "/")]:
        del e[k]
    e[f"{name}/zarr.json"] = json.dumps(array_doc(tuple(shape), dtype, rows, 3)).encode()
    frame = bytes(numcodecs.zstd.compress(bytes(rows * math.prod(shape[1:]) * np.dtype(dtype).itemsize), 19))
    for i in range(-(-shape[0] // rows)):
        e[f"{name}/c/{i}" if len(shape) == 1 else f"{name}/c/{i}/0"] = frame + google_crc32c.value(frame).to_bytes(4, "little")


def zero_decoder(tmp):
    e = entries(content(), tmp)
    D, H = 1 << 20, 128
    doc = json.loads(e["zarr.json"])
    doc["attributes"]["tasz"]["decoder"].update(feature_dim=D, hidden=H)
    e["zarr.json"] = json.dumps(doc).encode()
    for n, shape, rows in (("w1", (H, 6), H), ("b1", (H,), H), ("w2", (D, H), 1 << 17), ("b2", (D,), D),
                           ("mean", (D,), D), ("std", (D,), D)):
        zero_array(e, f"decoder/{n}", shape, "float32", rows)
    return pack(e, tmp / "zero-decoder.tasz"), "open"


def big_s(tmp):
    e = entries(content(), tmp)
    S = 1 << 26
    for name, dtype in (("segments/label", "int32"), ("segments/length", "int64"), ("segments/instances", "int32")):
        zero_array(e, name, (S,), dtype, 1 << 23)
    zero_array(e, "segments/row_offset", (S + 1,), "int64", 1 << 23)
    return pack(e, tmp / "big-s.tasz"), "open"


def deep_provenance(tmp):
    e = entries(content(), tmp)
    e["zarr.json"] = e["zarr.json"].replace(b'"provenance":{', b'"provenance":{"d":' + b"[" * 900 + b"]" * 900 + b",")
    return pack(e, tmp / "deep.tasz"), "open"


def many_objects(tmp):
    e = entries(content(), tmp)
    e["zarr.json"] = e["zarr.json"].replace(b'"provenance":{', b'"provenance":{"d":[' + b",".join([b"{}"] * 5_000_000) + b"],")
    return pack(e, tmp / "objects.tasz"), "open"


def long_segment(tmp):
    e = entries(content(("a",), (3,)), tmp)
    from tascodec.container.chunks import encode_chunk
    from tascodec.container.layout import ArraySpec

    for name, v in (("segments/length", 1 << 28), ("videos/num_frames", 1 << 28)):
        e[f"{name}/c/0"] = encode_chunk(np.array([v], np.int64), ArraySpec(name, (1,), "int64", 1), 3)
    return pack(e, tmp / "long-segment.tasz"), "labels"


CASES = {"zero-decoder": zero_decoder, "big-S": big_s, "deep-provenance": deep_provenance,
         "5M-objects-root": many_objects, "2^28-frame-labels": long_segment}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", default=str(ROOT))
    ap.add_argument("--cases", default=",".join(CASES))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in a.cases.split(","):
            path, op = CASES[name](tmp)
            out = subprocess.run([sys.executable, "-c", CHILD, a.tree, str(path), op], capture_output=True, text=True,
                                 timeout=300)
            cpu, rss, what = (out.stdout.strip() or f"-|-|{out.stderr.strip()[-120:]}").split("|", 2)
            print(f"{name:<18} {path.stat().st_size:>10,} B  {cpu:>6} s CPU  {rss:>6} MiB peak  {what}")


if __name__ == "__main__":
    main()
