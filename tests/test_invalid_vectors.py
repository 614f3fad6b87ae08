"""spec/vectors/invalid: every must-reject file is rejected by tascodec.open with the TaszFormatError
subclass its manifest names, and the script makes them from a valid base (one broken rule each)."""
from __future__ import annotations

import hashlib
import json

import pytest

import tascodec
from tascodec import errors
from tascodec.container import verify_file
from helpers import SPEC, load_spec_script

INVALID = SPEC / "vectors" / "invalid"
MANIFEST = json.loads((INVALID / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_lists_every_file():
    assert {e["file"] for e in MANIFEST["vectors"]} == {p.name for p in INVALID.glob("*.tasz")}
    assert len(MANIFEST["vectors"]) >= 40 and all(e["bytes"] < 32_000 for e in MANIFEST["vectors"])


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_invalid_vector_is_rejected(entry):
    path = INVALID / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    kind = getattr(errors, entry["error"])
    assert issubclass(kind, errors.TaszFormatError)
    with pytest.raises(errors.TaszFormatError) as ei:
        tascodec.open(path)
    assert type(ei.value) is kind, f"{entry['rule']}: {type(ei.value).__name__}: {ei.value}"
    assert str(ei.value).startswith(f"{path}: ")
    assert verify_file(path)


def test_script_starts_from_a_valid_file_and_reproduces_the_kinds(tmp_path):
    mod = load_spec_script("make_invalid_vectors")
    base = tmp_path / "base.tasz"
    base.write_bytes(mod.valid())
    with tascodec.open(base) as c:
        assert c.verify() == [] and c.metadata["version"] == "1.1"
    m = mod.write_all(tmp_path / "invalid")
    assert [(e["file"], e["error"]) for e in m["vectors"]] == [(e["file"], e["error"]) for e in MANIFEST["vectors"]]


# --- the compatibility vector: a file of the 1.0 writer, kept as it was -----------------------
VALID = json.loads((SPEC / "vectors" / "manifest.json").read_text(encoding="utf-8"))


def test_writer_writes_1_1_or_1_2_and_reads_the_1_0_vector():
    import numpy as np

    # 1.2 exactly where the file has the 1.2 array (the noise level), 1.1 for every other file
    assert [v["version"] for v in VALID["vectors"]] == ["1.2" if "residual_sd" in v else "1.1" for v in VALID["vectors"]]
    assert any("residual_sd" in v for v in VALID["vectors"])
    compat = VALID["compatibility"]
    assert compat and all(e["version"] == "1.0" for e in compat)
    for e in compat:
        path = SPEC / "vectors" / e["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == e["sha256"]
        with tascodec.open(path) as c:
            assert c.metadata["version"] == "1.0" and c.verify() == []
            for v in e["videos"]:
                assert c.labels(v["name"]).tolist() == v["labels"]
                want = np.array(v["features"], np.float32).reshape(-1, c.decoder.feature_dim)
                if want.size:
                    assert np.max(np.abs(c.decode(v["name"]) - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))
