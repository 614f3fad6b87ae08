"""The fast decoders (numpy and torch) against the naive per-frame reference decode."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tascodec.container.content import Decoder
from tascodec.decode import decode_segments, decode_video, iter_decode_segments, iter_decode_video
from tascodec.decode.plan import frame_span, segment_starts
from tascodec.decode.reference import reference_decode
from tascodec.data.segments import frame_layout
from helpers import DEC_C as C, DEC_D as D, DEC_d as d, mlp_decoder, write_test_container

def video(rng, S=30, K=4, max_len=60, width=d):
    lengths = rng.integers(1, max_len, S).astype(np.int64)
    lengths[::7] = 1  # single-frame segments: c = 0
    instances = np.minimum(lengths, K).astype(np.int32)
    labels = rng.integers(0, C, S).astype(np.int32)
    codes = rng.standard_normal((int(instances.sum()), width)).astype(np.float32)
    return codes, labels, lengths, instances


def rel_err(a, ref) -> float:
    return float(np.abs(np.asarray(a) - ref).max() / max(np.abs(ref).max(), 1e-30))


@pytest.mark.parametrize("c_scale", [0.0, 1.0, 8.0, 200.0])
def test_mlp_matches_reference(c_scale):
    rng = np.random.default_rng(int(c_scale * 10))
    dec = mlp_decoder(rng, c_scale)
    arrays = video(rng)
    ref = reference_decode(dec, *arrays)
    out = decode_segments(dec, *arrays)
    assert out.dtype == np.float32 and out.shape == ref.shape and out.flags.c_contiguous
    assert rel_err(out, ref) < 1e-5


def test_repeat_is_a_gather():
    rng = np.random.default_rng(1)
    dec = Decoder("repeat", D, D, C)
    arrays = video(rng, width=D)
    np.testing.assert_array_equal(decode_segments(dec, *arrays), reference_decode(dec, *arrays))


@pytest.mark.parametrize("work", [4096, 13])
@pytest.mark.parametrize("kind", ["mlp", "repeat"])
def test_ranges_and_streaming_equal_whole(kind, work, monkeypatch):
    import tascodec.decode as dm

    monkeypatch.setattr(dm, "WORK_FRAMES", work)
    rng = np.random.default_rng(2)
    dec = mlp_decoder(rng, 8.0) if kind == "mlp" else Decoder("repeat", D, D, C)
    arrays = video(rng, width=d if kind == "mlp" else D)
    whole = decode_segments(dec, *arrays)
    T = whole.shape[0]
    for start, stop in [(0, T), (0, 1), (5, 6), (17, T - 3), (T, T), (T - 1, T)]:
        np.testing.assert_allclose(decode_segments(dec, *arrays, start=start, stop=stop), whole[start:stop],
                                   rtol=0, atol=1e-5 * np.abs(whole).max())
    for chunk in (1, 7, 64, T, 10 * T):
        blocks = list(iter_decode_segments(dec, *arrays, chunk_frames=chunk))
        assert all(b.shape[0] == chunk for b in blocks[:-1]) and 0 < blocks[-1].shape[0] <= chunk
        np.testing.assert_array_equal(np.concatenate(blocks), whole)  # streaming is bit-identical


def test_internal_work_chunks_do_not_change_the_result(monkeypatch):
    import tascodec.decode as dm

    rng = np.random.default_rng(3)
    dec = mlp_decoder(rng, 8.0)
    arrays = video(rng)
    whole = decode_segments(dec, *arrays)
    monkeypatch.setattr(dm, "WORK_FRAMES", 5)
    assert rel_err(decode_segments(dec, *arrays), whole) < 1e-6


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=8), K=st.integers(1, 6),
       start=st.integers(0, 400), size=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_frame_span_matches_frame_layout(lengths, K, start, size, seed):
    lengths = np.asarray(lengths, np.int64)
    rng = np.random.default_rng(seed)
    counts = np.array([rng.integers(1, min(K, l) + 1) for l in lengths], np.int64)
    T = int(lengths.sum())
    start = min(start, T)
    stop = min(T, start + size)
    seg, row, c = frame_layout(lengths, counts)
    span = frame_span(segment_starts(lengths), segment_starts(counts), lengths, counts, start, stop)
    np.testing.assert_array_equal(span.seg, seg[start:stop])
    np.testing.assert_array_equal(span.row, row[start:stop])
    np.testing.assert_array_equal(span.c, c[start:stop])


@settings(max_examples=20, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=6), K=st.integers(1, 8),
       c_scale=st.sampled_from([0.0, 1.0, 30.0]), seed=st.integers(0, 2**32 - 1))
def test_mlp_property(lengths, K, c_scale, seed):
    rng = np.random.default_rng(seed)
    dec = mlp_decoder(rng, c_scale, D=8, d=4, C=3, H=16)
    lengths = np.asarray(lengths, np.int64)
    instances = np.minimum(lengths, K).astype(np.int32)
    labels = rng.integers(0, 3, lengths.size).astype(np.int32)
    codes = rng.standard_normal((int(instances.sum()), 4)).astype(np.float32)
    ref = reference_decode(dec, codes, labels, lengths, instances)
    assert rel_err(decode_segments(dec, codes, labels, lengths, instances), ref) < 1e-5


def test_empty_video():
    dec = mlp_decoder(np.random.default_rng(4))
    empty = (np.zeros((0, d), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int32))
    assert decode_segments(dec, *empty).shape == (0, D)
    assert list(iter_decode_segments(dec, *empty)) == []


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(5)
    dec = mlp_decoder(rng)
    codes, labels, lengths, instances = video(rng)
    T = int(lengths.sum())
    with pytest.raises(ValueError, match="codes have shape"):
        decode_segments(dec, codes[1:], labels, lengths, instances)
    with pytest.raises(ValueError, match="instances"):
        decode_segments(dec, codes, labels, lengths, np.where(lengths > 0, lengths + 1, 1))
    with pytest.raises(ValueError, match="outside"):
        decode_segments(dec, codes, labels, lengths, instances, start=3, stop=T + 1)
    with pytest.raises(ValueError, match="chunk_frames"):
        iter_decode_segments(dec, codes, labels, lengths, instances, chunk_frames=0)


class FakeContainer:
    """The slice of the reader's Container that decode_video needs."""

    def __init__(self, decoder, arrays):
        self.decoder = decoder
        self._arrays = arrays

    def segments(self, video):
        return self._arrays[1:]

    def codes(self, video):
        return self._arrays[0]


def test_decode_video_backends_agree():
    rng = np.random.default_rng(6)
    dec = mlp_decoder(rng, 8.0)
    arrays = video(rng)
    box = FakeContainer(dec, arrays)
    ref = reference_decode(dec, *arrays)
    assert rel_err(decode_video(box, "v"), ref) < 1e-5
    assert rel_err(decode_video(box, "v", backend="torch"), ref) < 1e-5
    assert rel_err(np.concatenate(list(iter_decode_video(box, "v", chunk_frames=50))), ref) < 1e-5
    with pytest.raises(ValueError, match="backend"):
        decode_video(box, "v", backend="jax")
    with pytest.raises(ValueError, match="numpy backend"):
        decode_video(box, "v", device="cuda")


def _torch_devices():
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _torch_devices())
@pytest.mark.parametrize("kind", ["mlp", "repeat"])
def test_torch_backend_matches_numpy(device, kind):
    import torch

    from tascodec.decode.torch_backend import decode_segments_torch, iter_decode_segments_torch

    rng = np.random.default_rng(7)
    dec = mlp_decoder(rng, 8.0) if kind == "mlp" else Decoder("repeat", D, D, C)
    arrays = video(rng, width=d if kind == "mlp" else D)
    ref = reference_decode(dec, *arrays)
    if device == "cuda":  # decoding must not inherit TF32 from training code
        torch.backends.cuda.matmul.allow_tf32 = True
    out = decode_segments_torch(dec, *arrays, device=device)
    assert out.device.type == device and out.dtype == torch.float32
    assert rel_err(out.cpu().numpy(), ref) < 1e-5
    T = ref.shape[0]
    assert rel_err(decode_segments_torch(dec, *arrays, device=device, start=9, stop=T - 2).cpu().numpy(),
                   ref[9:T - 2]) < 1e-5
    blocks = [b.cpu() for b in iter_decode_segments_torch(dec, *arrays, device=device, chunk_frames=33)]
    assert rel_err(torch.cat(blocks).numpy(), ref) < 1e-5


def test_numpy_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from tascodec.container.content import Decoder\n"
        "from tascodec.decode import decode_segments\n"
        "dec = Decoder('repeat', 3, 3, 2)\n"
        "out = decode_segments(dec, np.ones((1, 3), np.float32), np.zeros(1, np.int32), np.ones(1, np.int64),"
        " np.ones(1, np.int32))\n"
        "assert out.shape == (1, 3)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind", ["mlp", "repeat"])
def test_container_decode_uses_fast_path(tmp_path, kind):
    import tascodec

    path = write_test_container(tmp_path / "x.tasz", kind=kind)
    with tascodec.open(path) as c:
        for v in c.videos:
            ref = reference_decode(c.decoder, c.codes(v), *c.segments(v))
            assert rel_err(c.decode(v), ref) < 1e-5
            assert rel_err(np.concatenate(list(c.iter_decode(v, chunk_frames=7))), ref) < 1e-5
            assert rel_err(c.decode(v, backend="torch"), ref) < 1e-5


@pytest.mark.parametrize("overhead", [float("inf"), float("-inf"), 96.0])
@pytest.mark.parametrize("c_scale", [1.0, 30.0])
def test_direct_and_affine_forms_match_reference(overhead, c_scale, monkeypatch):
    """Each instance runs direct (its frames through the second layer) or affine (alpha + c beta plus
    its switching units); all direct, all affine and the mixed default all equal the reference."""
    import tascodec.decode.plan as plan

    from tascodec.decode import VideoTables, prepared
    from tascodec.decode.torch_backend import decode_segments_torch

    monkeypatch.setattr(plan, "AFFINE_OVERHEAD", overhead)
    rng = np.random.default_rng(8)
    dec = mlp_decoder(rng, c_scale)
    arrays = video(rng, S=40, max_len=40)
    prep = prepared(dec)
    v = VideoTables(prep, *arrays)
    p = plan.plan_mlp(prep, v.codes, v.seg_label, v.span(0, v.num_frames))
    direct_groups = p.num_groups - p.affine.size
    if overhead == float("inf"):
        assert p.affine.size == 0 and p.direct_frame.size == v.num_frames
    elif overhead == float("-inf"):
        assert direct_groups == 0 and p.direct_frame.size == 0
    else:  # the default picks both forms on this video
        assert 0 < p.affine.size < p.num_groups
        n = np.diff(p.frame_off)
        assert np.all(n[p.affine] > 1)
    ref = reference_decode(dec, *arrays)
    assert rel_err(decode_segments(dec, *arrays), ref) < 1e-5
    assert rel_err(decode_segments_torch(dec, *arrays).numpy(), ref) < 1e-5


def test_gather_path_matches_reference():
    """The whole-range torch path (what a GPU runs), here on CPU tensors, on a mixed plan."""
    import torch

    from tascodec.decode import VideoTables, prepared
    from tascodec.decode.plan import plan_mlp
    from tascodec.decode.torch_backend import _run_mlp_gather

    rng = np.random.default_rng(9)
    dec = mlp_decoder(rng, 8.0)
    arrays = video(rng, S=40, max_len=40)
    prep = prepared(dec)
    v = VideoTables(prep, *arrays)
    p = plan_mlp(prep, v.codes, v.seg_label, v.span(0, v.num_frames))
    assert 0 < p.affine.size < p.num_groups
    out = torch.full((v.num_frames, D), float("nan"))
    _run_mlp_gather(prep, p, out)
    assert rel_err(out.numpy(), reference_decode(dec, *arrays)) < 1e-5


def test_threaded_products_match_single_thread(monkeypatch):
    """With several BLAS threads the affine groups' products are split over a thread pool."""
    import tascodec.decode.numpy_backend as nb

    rng = np.random.default_rng(10)
    dec = mlp_decoder(rng, 8.0)
    arrays = video(rng, S=40, max_len=60)
    one = decode_segments(dec, *arrays)
    monkeypatch.setattr(nb, "blas_threads", lambda: 3)
    monkeypatch.setattr(nb, "PARALLEL_MIN", 0)
    calls = []
    real = nb._pool
    monkeypatch.setattr(nb, "_pool", lambda t: calls.append(t) or real(t))
    three = decode_segments(dec, *arrays)
    assert calls and set(calls) == {3}
    np.testing.assert_allclose(three, one, rtol=0, atol=1e-6 * np.abs(one).max())
    assert rel_err(three, reference_decode(dec, *arrays)) < 1e-5


def test_blas_threads_can_be_set():
    code = (
        "from tascodec.decode.numpy_backend import blas_threads, set_blas_threads\n"
        "n = blas_threads()\n"
        "if n is not None:\n"
        "    assert set_blas_threads(1) and blas_threads() == 1\n"
        "    assert set_blas_threads(2) and blas_threads() == 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _probe_dataset(path):
    from tascodec.torch import TaszDataset

    class Probe(TaszDataset):
        def __getitem__(self, i):
            import torch

            from tascodec.decode.numpy_backend import blas_threads

            item = super().__getitem__(i)
            return {"video": item["video"], "blas": blas_threads(), "torch": torch.get_num_threads()}

    return Probe(path)


def test_dataset_workers_decode_on_one_blas_thread(tmp_path):
    """DataLoader workers must not each run a BLAS thread per core (they would oversubscribe)."""
    from torch.utils.data import DataLoader

    from tascodec.decode.numpy_backend import blas_threads, set_blas_threads

    path = write_test_container(tmp_path / "x.tasz")
    before = blas_threads()
    if before is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS this build can reach")
    set_blas_threads(2)  # what a worker would inherit from a parent using every core
    try:
        items = list(DataLoader(_probe_dataset(path), batch_size=None, num_workers=2,
                                multiprocessing_context="fork"))
    finally:
        set_blas_threads(before)
    assert len(items) == 3 and all(it["blas"] == 1 and it["torch"] == 1 for it in items)
