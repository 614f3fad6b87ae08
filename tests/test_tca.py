"""TCA: export equals the reference decoder, training learns, seeds reproduce, resume continues."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tascodec.data.segments import frame_layout, instance_counts
from tascodec.decode.reference import reference_decode
from tascodec.model.tca import TCA, first_layer, train_tca

D, C, d, H = 32, 4, 8, 24


def tiny_data(seed=0, T=400):
    """Smooth class-dependent frames ``(T, D)`` with labels and coherence."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, size=40)
    lengths = lengths[np.cumsum(lengths) <= T]
    seg_label = rng.integers(0, C, size=lengths.size)
    _, _, c = frame_layout(lengths, lengths)
    labels = np.repeat(seg_label, lengths)
    proto, slope = rng.normal(size=(C, D)), rng.normal(size=(C, D))
    x = proto[labels] + c[:, None] * slope[labels] + 0.1 * rng.normal(size=(labels.size, D))
    return x.astype(np.float32), labels, c


def batches_of(x, labels, c, batch=64):
    xt, lt, ct = torch.from_numpy(x), torch.from_numpy(labels).long(), torch.from_numpy(c)

    def batches(epoch):
        g = torch.Generator().manual_seed(epoch)
        perm = torch.randperm(xt.shape[0], generator=g)
        for s in range(0, perm.numel(), batch):
            i = perm[s:s + batch]
            yield xt[i], lt[i], ct[i]
    return batches


def test_first_layer_equals_linear_on_the_concatenation():
    lin = torch.nn.Linear(5 + C + 1, 7)
    x, labels, c = torch.randn(9, 5), torch.randint(0, C, (9,)), torch.rand(9)
    cat = torch.cat([x, torch.nn.functional.one_hot(labels, C).float(), c[:, None]], 1)
    torch.testing.assert_close(first_layer(lin, x, labels, c), lin(cat))


def test_export_matches_reference_decode_and_round_trips():
    model = TCA(D, C, d, H, seed=1)
    rng = np.random.default_rng(0)
    seg_label = np.array([0, 3, 1, 2], np.int32)
    seg_length = np.array([1, 5, 12, 3], np.int64)
    seg_instances = instance_counts(seg_length, 4)
    codes = rng.normal(size=(int(seg_instances.sum()), d)).astype(np.float32)
    mean, std = rng.normal(size=D).astype(np.float32), rng.uniform(0.5, 2, D).astype(np.float32)
    dec = model.export_decoder(mean, std)
    assert dec.kind == "mlp" and dec.hidden == H and dec.latent_dim == d and dec.num_classes == C
    assert dec.weights["w1"].shape == (H, d + C + 1) and dec.weights["w2"].shape == (D, H)
    seg, row, c = frame_layout(seg_length, seg_instances)
    with torch.no_grad():
        want = model.decode(torch.from_numpy(codes)[row], torch.from_numpy(seg_label[seg]).long(),
                            torch.from_numpy(c)).numpy() * std + mean
    got = reference_decode(dec, codes, seg_label, seg_length, seg_instances)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    again = TCA.from_decoder(dec).export_decoder(mean, std)
    assert again.sha256() == dec.sha256()
    half = model.export_decoder(mean, std, weights_dtype="float16")
    assert {w.dtype for w in half.weights.values()} == {np.dtype(np.float16)}
    assert half.weights_dtype == "float16"


def test_export_checks_normalisation_shapes():
    with pytest.raises(ValueError):
        TCA(D, C, d, H).export_decoder(np.zeros(D + 1), np.ones(D))


def test_forward_total_is_recon_plus_weighted_kl():
    model = TCA(D, C, d, H, seed=0)
    x, labels, c = tiny_data()
    args = torch.from_numpy(x[:50]), torch.from_numpy(labels[:50]).long(), torch.from_numpy(c[:50])
    total, recon, kl = model(*args, kl_weight=0.25)
    torch.testing.assert_close(total, recon + 0.25 * kl)
    assert kl.item() >= 0 and recon.item() > 0


def test_training_reduces_the_loss_and_calls_back_every_epoch():
    x, labels, c = tiny_data()
    model = TCA(D, C, d, H, seed=0)
    seen = []
    first = train_tca(model, batches_of(x, labels, c), epochs=1, seed=0, progress=False)
    stats = train_tca(model, batches_of(x, labels, c), epochs=30, start_epoch=1, lr=3e-3, seed=0,
                      progress=False, on_epoch_end=lambda e, m, o, s: seen.append((e, s["epochs"])))
    assert seen == [(e, e + 1) for e in range(1, 30)]
    assert stats["epochs"] == 30
    assert stats["train_loss"] < 0.5 * first["train_loss"]
    assert set(stats) == {"train_loss", "train_recon", "train_kl", "epochs", "steps"}


def test_seeded_training_is_reproducible_and_resumes_exactly():
    x, labels, c = tiny_data()

    def run(epochs, start=0, model=None, opt_state=None):
        model = model or TCA(D, C, d, H, seed=3)
        states = []
        train_tca(model, batches_of(x, labels, c), epochs=epochs, start_epoch=start, seed=7,
                  optimizer_state=opt_state, progress=False,
                  on_epoch_end=lambda e, m, o, s: states.append(o.state_dict()))
        return model, states

    full, _ = run(4)
    again, _ = run(4)
    half, states = run(2)
    resumed, _ = run(4, start=2, model=half, opt_state=states[-1])
    for a, b, r in zip(full.parameters(), again.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, r, rtol=0, atol=0)
    assert TCA(D, C, d, H, seed=5).dec2.weight.equal(TCA(D, C, d, H, seed=5).dec2.weight)
