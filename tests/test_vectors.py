"""spec/vectors: the committed conformance files decode to the manifest, and the script reproduces them."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import tascodec
from helpers import SPEC, assert_same_content, load_spec_script

MANIFEST = json.loads((SPEC / "vectors" / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_covers_each_kind():
    kinds = {(e["decoder"], e["codes"]) for e in MANIFEST["vectors"]}
    assert {("mlp", "float32"), ("mlp", "float16"), ("mlp", "int8"), ("mlp", "random"), ("repeat", "float32"),
            ("linear", "float16"), ("linear", "int8")} <= kinds
    assert any(e["decoder"] == "linear" and "residual_sd" in e for e in MANIFEST["vectors"])  # 1.2's noise level
    assert all(e["bytes"] < 32_000 for e in MANIFEST["vectors"])


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_vector_decodes_to_manifest(entry):
    path = SPEC / "vectors" / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    with tascodec.open(path) as c:
        assert c.verify() == []
        assert c.metadata["version"] == entry["version"]
        if "residual_sd" in entry:
            np.testing.assert_array_equal(c.residual_sd, np.array(entry["residual_sd"], np.float32))
        else:
            assert c.residual_sd is None
        assert c.videos == [v["name"] for v in entry["videos"]]
        for v in entry["videos"]:
            assert c.num_frames(v["name"]) == v["num_frames"]
            assert c.labels(v["name"]).tolist() == v["labels"]
            np.testing.assert_allclose(c.codes(v["name"]), np.array(v["codes"], np.float32).reshape(-1, c.decoder.latent_dim),
                                       rtol=1e-6, atol=0)
            want = np.array(v["features"], np.float32).reshape(-1, c.decoder.feature_dim)
            got = c.decode(v["name"])
            assert got.shape == want.shape
            if want.size:
                assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))


def _conforms(got: np.ndarray, want: np.ndarray) -> bool:
    """spec/tasz-v1.md section 5: max |x - x_expected| <= 1e-4 * max(1, max |x_expected|)."""
    return got.shape == want.shape and (not want.size or
                                        np.max(np.abs(got - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want)))))


def assert_same_vectors(new: dict, old: dict) -> None:
    """A regenerated manifest matches the committed one: exactly where integer arithmetic or one fixed
    rounding makes the value (names, tables, labels, stored codes), within the spec's conformance
    tolerance where float sums do (decoded features: BLAS kernels and thread counts move the last bits),
    and generated codes (float64 libm log/cos, which differ by an ulp between CPUs) to 1e-6."""
    assert len(new["vectors"]) == len(old["vectors"])
    for n, o in zip(new["vectors"], old["vectors"]):
        assert [(n[k], len(n["videos"])) for k in ("file", "method", "decoder", "codes")] == \
            [(o[k], len(o["videos"])) for k in ("file", "method", "decoder", "codes")]
        for vn, vo in zip(n["videos"], o["videos"]):
            assert sorted(vn) == sorted(vo)
            for key in ("name", "num_frames", "segments", "labels"):
                assert vn[key] == vo[key], (n["file"], vn["name"], key)
            codes_n, codes_o = np.array(vn["codes"], np.float32), np.array(vo["codes"], np.float32)
            if n["codes"] == "random":
                np.testing.assert_allclose(codes_n, codes_o, rtol=1e-6, atol=1e-6)
            else:
                np.testing.assert_array_equal(codes_n, codes_o)
            assert _conforms(np.array(vn["features"], np.float32), np.array(vo["features"], np.float32)), \
                (n["file"], vn["name"])


def test_script_reproduces_vectors(tmp_path):
    m = load_spec_script("make_vectors").write_all(tmp_path)
    assert_same_vectors(m, MANIFEST)
    for e in m["vectors"]:
        with tascodec.open(tmp_path / e["file"]) as new, tascodec.open(SPEC / "vectors" / e["file"]) as old:
            assert_same_content(old.content(), new.content())  # integer-made weights, tables and codes
            assert new.metadata == old.metadata


def test_script_reproduces_vectors_with_other_float_rounding(tmp_path, monkeypatch):
    """Another CPU's BLAS kernels change the decoded features' last bits (~1e-6): still the same vectors."""
    mod = load_spec_script("make_vectors")
    exact = mod.reference_decode
    monkeypatch.setattr(mod, "reference_decode", lambda *a, **k: exact(*a, **k) * np.float32(1 + 3e-7))
    assert_same_vectors(mod.write_all(tmp_path), MANIFEST)


def test_vector_comparison_still_catches_real_changes():
    import copy

    for key, change in (("labels", lambda v: v["labels"].__setitem__(0, v["labels"][0] + 1)),
                        ("codes", lambda v: v["codes"][0].__setitem__(0, v["codes"][0][0] + 1e-3)),
                        ("features", lambda v: v["features"][0].__setitem__(0, v["features"][0][0] + 1e-2))):
        bad = copy.deepcopy(MANIFEST)
        change(bad["vectors"][0]["videos"][0])
        with pytest.raises(AssertionError):
            assert_same_vectors(bad, MANIFEST)


# --- a second reader, written from spec/tasz-v1.md alone (zarr for storage, no tascodec) --------
M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _spec_random_codes(seed: int, video: str, rows: int, d: int) -> np.ndarray:
    h = 0xCBF29CE484222325
    for b in video.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    base = _splitmix64(seed ^ h)
    z = np.empty(rows * d, np.float32)
    for e in range(rows * d):
        u1, u2 = _splitmix64((base + 2 * e) & M64), _splitmix64((base + 2 * e + 1) & M64)
        U1, U2 = ((u1 >> 11) + 1) * 2.0**-53, (u2 >> 11) * 2.0**-53
        z[e] = np.float32(np.sqrt(-2 * np.log(U1)) * np.cos(2 * np.pi * U2))
    return z.reshape(rows, d)


def _spec_decode(path: Path) -> dict[str, tuple[list[int], np.ndarray]]:
    import zarr

    g = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
    t = g.attrs["tasz"]
    assert t["format"] == "tasz" and t["version"].split(".")[0] == "1"
    dec, codes = t["decoder"], t["codes"]
    so, lab = g["videos/segment_offset"][:], g["segments/label"][:]
    lng, ins, ro = g["segments/length"][:], g["segments/instances"][:], g["segments/row_offset"][:]
    if codes["source"] == "stored":
        table = g["codes/values"][:].astype(np.float32)
        if codes["dtype"] == "int8":
            table = table * g["codes/scale"][:][:, None]
    w = {k: g[f"decoder/{k}"][:].astype(np.float32) for k in ("w1", "b1", "w2", "b2", "mean", "std")} \
        if dec["kind"] == "mlp" else {}
    if dec["kind"] == "linear":  # section 4.7
        w = {"w": g["decoder/w"][:].astype(np.float32), "b": g["decoder/b"][:].astype(np.float32)}
        if dec["weights_dtype"] == "int8":
            w["w"] = w["w"] * g["decoder/w_scale"][:][None, :]
    out = {}
    for v, name in enumerate(t["videos"]):
        first = ro[so[v]]
        if codes["source"] == "random":
            z_video = _spec_random_codes(codes["random_seed"], name, int(ro[so[v + 1]] - first), codes["width"])
        frames, labels = [], []
        for s in range(so[v], so[v + 1]):
            l, n = int(lng[s]), int(ins[s])
            for i in range(l):
                if dec["kind"] == "linear":
                    num, den, r0 = (2 * i + 1) * n - l, 2 * l, int(ro[s])
                    if num <= 0 or num >= (n - 1) * den:
                        z = table[r0 if num <= 0 else r0 + n - 1]
                    else:
                        j = num // den
                        t_ = np.float32((num - j * den) / den)
                        z = table[r0 + j] + t_ * (table[r0 + j + 1] - table[r0 + j])
                    labels.append(int(lab[s]))
                    frames.append(w["w"] @ z + w["b"])
                    continue
                r = int(ro[s]) + (i * n) // l
                z = z_video[r - first] if codes["source"] == "random" else table[r]
                c = np.float32(i / (l - 1)) if l > 1 else np.float32(0)
                labels.append(int(lab[s]))
                if dec["kind"] == "repeat":
                    frames.append(z)
                    continue
                onehot = np.zeros(dec["num_classes"], np.float32)
                onehot[lab[s]] = 1
                u = np.concatenate([z, onehot, [c]]).astype(np.float32)
                h = np.maximum(w["w1"] @ u + w["b1"], 0)
                frames.append((w["w2"] @ h + w["b2"]) * w["std"] + w["mean"])
        out[name] = (labels, np.array(frames, np.float32).reshape(-1, dec["feature_dim"]))
    return out


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_spec_only_reader_agrees(entry):
    got = _spec_decode(SPEC / "vectors" / entry["file"])
    for v in entry["videos"]:
        labels, x = got[v["name"]]
        want = np.array(v["features"], np.float32).reshape(x.shape)
        assert labels == v["labels"]
        if want.size:
            assert np.max(np.abs(x - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))
