"""spec/vectors: the committed conformance files decode to the manifest, and the script reproduces them."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import tascodec
from test_container import assert_same_content

SPEC = Path(__file__).resolve().parent.parent / "spec"
MANIFEST = json.loads((SPEC / "vectors" / "manifest.json").read_text(encoding="utf-8"))


def load_script():
    spec = importlib.util.spec_from_file_location("make_vectors", SPEC / "make_vectors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_manifest_covers_each_kind():
    kinds = {(e["decoder"], e["codes"]) for e in MANIFEST["vectors"]}
    assert {("mlp", "float32"), ("mlp", "float16"), ("mlp", "int8"), ("mlp", "random"), ("repeat", "float32")} <= kinds
    assert all(e["bytes"] < 32_000 for e in MANIFEST["vectors"])


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_vector_decodes_to_manifest(entry):
    path = SPEC / "vectors" / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    with tascodec.open(path) as c:
        assert c.verify() == []
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


def test_script_reproduces_vectors(tmp_path):
    m = load_script().write_all(tmp_path)
    assert [e["videos"] for e in m["vectors"]] == [e["videos"] for e in MANIFEST["vectors"]]
    for e in m["vectors"]:
        with tascodec.open(tmp_path / e["file"]) as new, tascodec.open(SPEC / "vectors" / e["file"]) as old:
            assert_same_content(old.content(), new.content())
            assert new.metadata == old.metadata
