"""Corruption fuzz: single-byte flips and truncations of a real container either raise a
``TaszFormatError`` or read back exactly the original (a flip in bytes nothing depends on).

Never another exception, never silently different data. ``TASZ_FUZZ_SCALE=N`` multiplies the
number of random cases (and ``TASZ_FUZZ_SCALE=all`` flips every byte) for longer manual runs.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tascodec
from tascodec.container import Content, Decoder, write_container
from tascodec.container.quant import quantize
from tascodec.errors import TaszFormatError

SCALE = os.environ.get("TASZ_FUZZ_SCALE", "1")


def tiny_content(random_codes: bool) -> Content:
    rng = np.random.default_rng(3)
    D, d, C, H = 4, 3, 3, 4
    shapes = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
    dec = Decoder("mlp", D, d, C, H, weights={k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()})
    lengths = np.array([3, 1, 4, 2, 5], np.int64)
    c = Content(vocab=["bg", "cut", "pour"], videos=["a", "b"], video_segments=np.array([0, 2, 5]),
                seg_label=np.array([0, 1, 2, 0, 1], np.int32), seg_length=lengths,
                seg_instances=np.minimum(lengths, 2).astype(np.int32), decoder=dec, background=["bg"],
                activities=["x", None], provenance={"method": "inversion", "settings": {"K": 2}})
    if random_codes:
        c.random_seed = 11
    else:
        c.codes, c.code_scale = quantize(rng.standard_normal((c.num_rows, d)), "int8")
        c.codes_dtype = "int8"
    return c


def snapshot(path: Path):
    """Everything a user can read from the file, or the format error it raises."""
    with tascodec.open(path) as r:
        problems = r.verify()
        if problems:
            return "problems"
        return (r.videos, r.vocab, r.background, r.activities, r.metadata, r.decoder_sha256,
                [(r.labels(v).tolist(), [a.tolist() for a in r.segments(v)], r.codes(v).tobytes(),
                  r.decode(v).tobytes()) for v in r.videos])


def check_case(path: Path, data: bytes, reference, what: str) -> str:
    path.write_bytes(data)
    try:
        got = snapshot(path)
    except TaszFormatError:
        return "error"
    except Exception as e:  # pragma: no cover - the failure this test exists to catch
        raise AssertionError(f"{what}: {type(e).__name__}: {e}") from e
    if got == "problems":
        return "error"
    assert got == reference, f"{what}: read different data without an error"
    return "same"


@pytest.mark.parametrize("random_codes", [False, True])
def test_flips_and_truncations(tmp_path, random_codes):
    original = write_container(tiny_content(random_codes), tmp_path / "orig.tasz",
                               created="2000-01-01T00:00:00Z").read_bytes()
    reference = snapshot(tmp_path / "orig.tasz")
    rng = np.random.default_rng(2024 + random_codes)
    n = len(original)
    if SCALE == "all":
        positions = np.arange(n)
    else:
        # every byte of the first central-directory records and of the end record, random ones elsewhere
        with zipfile.ZipFile(tmp_path / "orig.tasz") as zf:
            cd, names = zf.start_dir, [i.filename for i in zf.infolist()]
        records = sum(46 + len(name) for name in names[:3])
        structure = np.concatenate([np.arange(cd, cd + records), np.arange(n - 22, n)])
        positions = np.concatenate([structure, rng.integers(0, n, 1000 * int(SCALE))])
    path = tmp_path / "fuzz.tasz"
    counts = {"error": 0, "same": 0}
    for pos in positions:
        data = bytearray(original)
        data[pos] ^= int(rng.integers(1, 256))
        counts[check_case(path, bytes(data), reference, f"flip at byte {pos}/{n}")] += 1
    for cut in rng.integers(0, n, 150 * (1 if SCALE == "all" else int(SCALE))):
        counts[check_case(path, original[:cut], reference, f"truncated to {cut}/{n}")] += 1
    print(f"\n{len(positions)} flips and truncations of a {n}-byte file: {counts}")
    assert counts["error"] > 0.5 * sum(counts.values())
