"""The one frozen encode configuration (issue 12): API, CLI, provenance and fingerprint read it."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

import tascodec
from tascodec.cli.main import cli
from tascodec.data.synthetic import synthesize
from tascodec.encoding import config as C
from tascodec.encoding import defaults
from tascodec.encoding.checkpoint import fingerprint
from tascodec.errors import UsageError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("ds") / "tiny", like="gtea", videos=4, dim=16,
                      length_scale=0.2, seed=2)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        C.FAST.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        C.FAST.codes.K = 4
    changed = C.FAST.replace(K=4)
    assert (changed.K, changed.codes.K, C.FAST.K) == (4, 4, None)  # flat and by section; FAST unchanged
    with pytest.raises(TypeError, match="no encode setting named 'bogus'"):
        C.FAST.replace(bogus=1)


@pytest.mark.parametrize("name, value, label", [
    ("K", 0, "K"), ("ratio", 2.0, "ratio"), ("latent_dtype", "int4", "latent dtype"),
    ("weights_dtype", "int4", "weights dtype"), ("optimizer", "lbfgs", "optimizer"), ("method", "nope", "method"),
    ("levels", 200, "levels"), ("seed", -1, "seed"), ("train_steps", 0, "train steps"), ("epochs", 0, "epochs"),
    ("lr", float("nan"), "lr"), ("kl_weight", -1.0, "kl weight"), ("part", "val", "part"),
    ("preset", "slow", "preset"), ("target_bytes", 0, "target bytes"), ("chunk_frames", 0, "chunk frames")])
def test_invalid_values_are_one_line_usage_errors_naming_the_setting(name, value, label):
    with pytest.raises(UsageError) as e:
        C.FAST.replace(**{name: value})
    message = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in message
    assert message.startswith(f"{label} must be ") and message.endswith(f"got {value!r}")


def test_settings_of_several_sections_are_checked_together():
    inv = C.FAST.replace(method="inversion")
    with pytest.raises(UsageError, match="weights dtype int8 is for method pca"):
        inv.replace(weights_dtype="int8")
    with pytest.raises(UsageError, match="method 'inversion' has no rate control"):
        inv.replace(target_bytes=1000)
    with pytest.raises(UsageError, match="needs a budget"):
        inv.replace(epochs=None, train_steps=None)
    with pytest.raises(UsageError, match="give K or a target"):
        C.FAST.replace(K=8, target_ratio=0.01)
    with pytest.raises(UsageError, match="K .knots per segment. or frames per code"):
        C.FAST.replace(K=8, frames_per_code=2)
    with pytest.raises(UsageError, match="use method inversion"):
        C.FAST.replace(model="x.tasz")
    assert C.FAST.replace(weights_dtype="int8").method == "pca"  # the default method takes int8 weights
    assert C.FAST.replace(method="mean", epochs=None, train_steps=None).epochs is None  # mean trains nothing


def test_presets_are_instances_with_the_defaults():
    assert C.FAST == C.EncodeConfig() == C.preset("fast") and C.PAPER == C.preset("paper")
    for name, values in defaults.PRESETS.items():
        p = C.preset(name)
        assert isinstance(p, C.EncodeConfig) and p.preset == name
        assert {k: getattr(p, k) for k in values} == values
    fast = C.FAST
    assert C.PAPER.method == "inversion" and fast.method == "pca"
    assert (C.FAST.replace(method="inversion").resolve().K, fast.hidden, fast.train_lr, fast.iters, fast.lr) == (
        defaults.K, defaults.HIDDEN, defaults.TRAIN_LR, defaults.INVERSION_ITERS, defaults.INVERSION_LR)
    assert (fast.cache_bytes, fast.buffer_frames, fast.chunk_frames, fast.checkpoint_every) == (
        defaults.CACHE_BYTES, defaults.BUFFER_FRAMES, defaults.CHUNK_FRAMES, defaults.CHECKPOINT_SECONDS)
    tca, pca = fast.replace(method="inversion").resolve(), fast.resolve()
    assert (tca.latent_dim, tca.latent_dtype, tca.weights_dtype, tca.init) == (defaults.LATENT, "float16", "float16",
                                                                                "encoder")
    assert (pca.latent_dim, pca.frames_per_code, pca.levels, pca.latent_dtype, pca.K, pca.epochs) == (
        defaults.PCA_COMPONENTS, defaults.PCA_FRAMES_PER_CODE, defaults.PCA_LEVELS, "int8", None, None)
    # nothing shaped: rate control at the default budget; any shape (or K, or a budget): no default budget
    assert (pca.target_ratio, pca.target_default, pca.resolve().target_default) == (defaults.TARGET_RATIO, True, True)
    for shape in (dict(latent_dim=64), dict(frames_per_code=2), dict(levels=31), dict(weights_dtype="float16"),
                  dict(latent_dtype="float16"), dict(K=8), dict(target_ratio=0.01)):
        r = fast.replace(**shape).resolve()
        assert not r.target_default and r.target_ratio == shape.get("target_ratio"), shape
    k8 = fast.replace(K=8).resolve()
    assert (k8.K, k8.frames_per_code, k8.latent_dim) == (8, None, defaults.PCA_COMPONENTS)


def test_options_override_a_config_as_replace_does():
    assert C.from_options(K=4) == dataclasses.replace(C.FAST, codes=dataclasses.replace(C.FAST.codes, K=4))
    assert C.from_options(preset="paper", iters=5) == C.PAPER.replace(iters=5)
    assert C.from_options(C.PAPER, K=None) == C.PAPER  # None: not given
    # as on the command line: epochs alone drops the step budget, train_steps alone the epoch limit
    assert (C.from_options(epochs=3).epochs, C.from_options(epochs=3).train_steps) == (3, None)
    assert (C.from_options(train_steps=9).epochs, C.from_options(train_steps=9).train_steps) == (None, 9)
    with pytest.raises(UsageError, match="not both"):
        C.from_options(C.FAST, preset="paper")


def test_encode_keywords_equal_the_replaced_config_and_provenance_records_it(data, tmp_path):
    a = tascodec.encode(data, tmp_path / "a.tasz", method="mean", K=4, progress=False)
    cfg = C.FAST.replace(method="mean", K=4, progress=False)
    b = tascodec.encode(data, tmp_path / "b.tasz", config=cfg)
    with tascodec.open(a) as ca, tascodec.open(b) as cb:
        pa, pb = ca.metadata["provenance"], cb.metadata["provenance"]
        np.testing.assert_array_equal(ca.content().codes, cb.content().codes)
    assert pa["settings"] == pb["settings"] and pa["method"] == pb["method"] == "mean"
    recorded = {k: v for k, v in cfg.resolve().values("record").items() if k != "method"}
    assert {k: pa["settings"][k] for k in recorded} == json.loads(json.dumps(recorded))
    assert pa["settings"]["K"] == 4 and pa["settings"]["epochs"] is None  # resolved: mean trains nothing
    assert not {"progress", "force", "labels", "cache_bytes"} & set(pa["settings"])  # runtime: not recorded


def test_fingerprint_follows_the_settings_that_change_the_output():
    ds = SimpleNamespace(name="d", labels_hash=lambda: "h", feature_dim=16, total_frames=100)

    def fp(**kw):
        return fingerprint(C.FAST.replace(method="inversion").replace(**kw).resolve(), ds, model=None, target=None)

    base = fp()
    assert base == fp(progress=False) == fp(device="cpu") == fp(force=True) == fp(resume=False)
    assert base == fp(cache_bytes=1) == fp(checkpoint_every=0) == fp(latent_dtype="float32")  # final quantisation
    for change in (dict(K=4), dict(seed=1), dict(epochs=3), dict(hidden=64), dict(lr=0.1), dict(split=2),
                   dict(buffer_frames=1000), dict(chunk_frames=1000), dict(preset="paper")):
        assert fp(**change) != base, change
    assert base["frames"] == 100 and base["method"] == "inversion"


def test_cli_options_come_from_the_config():
    runner = CliRunner()
    text = " ".join(runner.invoke(cli, ["encode", "--help"], terminal_width=400).output.split())
    params = {p.name: p for p in cli.get_command(None, "encode").params}
    # every option but the paths and the two negated flags is a config setting of the same name, and back
    negated = {"quiet": "progress", "no_resume": "resume"}
    assert {negated.get(n, n) for n in params} - {"data_dir", "out"} == \
        {s.name for s in C.settings() if s.metadata["cli"]}
    for s in C.settings():
        if not s.metadata["cli"]:
            continue
        if s.metadata["note"] is not None:
            assert f"[{s.metadata['note']}]" in text, s.name
        if s.metadata["choices"] is not None:
            assert list(params[s.name].type.choices) == list(s.metadata["choices"]), s.name
    assert f"[default: {C.FAST.method}]" in text and f"[default: {C.FAST.optimizer}]" in text
    assert f"[preset: {C.FAST.iters}]" in text and f"[{C.FAST.hidden}]" in text
    for name in ("optimizer", "method", "latent_dtype", "weights_dtype", "preset", "init", "part"):
        assert params[name].type.choices, name
    r = runner.invoke(cli, ["encode", "nowhere", "--optimizer", "lbfgs"])
    assert r.exit_code == 2 and "Invalid value for '--optimizer'" in r.output and "adam" in r.output


def test_config_imports_neither_torch_nor_click():
    code = "import sys, tascodec.encoding.config; print('torch' in sys.modules, 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
