"""Inversion: every exact reduction equals the naive loss and gradient; inversion improves on its init."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tascodec.data.segments import instance_counts
from tascodec.decode.reference import reference_decode
from tascodec.encoding.invert import LOSS_METHODS, encoder_means, instance_losses, invert
from tascodec.encoding.invert_problem import Problem, Targets, project_targets
from tascodec.model.tca import TCA, train_tca
from helpers import INV_C as C, INV_D as D, INV_H as H, INV_K as K, INV_d as d
from helpers import inversion_problem as problem, inversion_videos as videos


@pytest.fixture(scope="module")
def trained():
    vids = videos()
    x, row, row_label, c = problem(vids)
    model = TCA(D, C, d, H, seed=0)
    xt, lt, ct = torch.from_numpy(x), torch.from_numpy(row_label[row]), torch.from_numpy(c)

    def batches(epoch):
        perm = torch.randperm(xt.shape[0], generator=torch.Generator().manual_seed(epoch))
        for s in range(0, perm.numel(), 64):
            i = perm[s:s + 64]
            yield xt[i], lt[i], ct[i]
    train_tca(model, batches, epochs=40, lr=3e-3, seed=0, progress=False)
    return model, vids, (x, row, row_label, c)


@pytest.mark.parametrize("chunk", [7, 100000])
def test_every_method_gives_the_naive_losses_and_gradients(trained, chunk):
    model, _, (x, row, row_label, c) = trained
    R = row_label.size
    Z = torch.randn(R, d, generator=torch.Generator().manual_seed(1))
    ref = Problem(model, x, row, row_label, c, need_frames=True, chunk=chunk)
    want_l, want_g = instance_losses(ref, Z, "naive", want_grad=True)
    for method in LOSS_METHODS:
        P = Problem(model, x, row, row_label, c, need_frames=method in ("naive", "factored"), chunk=chunk)
        got_l, got_g = instance_losses(P, Z, method, want_grad=True)
        torch.testing.assert_close(got_l, want_l, rtol=1e-5, atol=1e-3, msg=method)
        torch.testing.assert_close(got_g, want_g, rtol=1e-4, atol=1e-3, msg=method)
        no_grad_l, none = instance_losses(P, Z, method, want_grad=False)
        assert none is None
        torch.testing.assert_close(no_grad_l, got_l, rtol=0, atol=1e-9)


def test_naive_losses_are_the_reference_decoders_squared_error(trained):
    model, vids, (x, row, row_label, c) = trained
    R = row_label.size
    Z = torch.randn(R, d, generator=torch.Generator().manual_seed(2))
    losses, _ = instance_losses(Problem(model, x, row, row_label, c, need_frames=True), Z, "naive")
    dec = model.export_decoder(np.zeros(D, np.float32), np.ones(D, np.float32))
    frames, off = [], 0
    for _, seg_label, lengths in vids:
        counts = instance_counts(lengths, K)
        frames.append(reference_decode(dec, Z.numpy()[off:off + counts.sum()], seg_label, lengths, counts))
        off += int(counts.sum())
    err = ((np.concatenate(frames) - x).astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(losses.numpy(), np.bincount(row, err, minlength=R), rtol=1e-5, atol=1e-4)


def test_targets_built_in_pieces_equal_targets_of_all_frames(trained):
    model, _, (x, *_rest) = trained
    whole = project_targets(model, x)
    parts = Targets.cat([project_targets(model, x[:50], chunk=16), project_targets(model, x[50:])])
    torch.testing.assert_close(parts.p, whole.p)
    torch.testing.assert_close(parts.sq, whole.sq)
    assert len(whole) == x.shape[0] and whole.p.shape == (x.shape[0], H)


def test_encoder_means_is_the_mean_of_mu_over_each_instance(trained):
    model, _, (x, row, row_label, c) = trained
    R = row_label.size
    got = encoder_means(model, x, row, row_label, c, R, chunk=11)
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(x), torch.from_numpy(row_label[row]), torch.from_numpy(c))
    want = torch.stack([mu[torch.from_numpy(row == k)].mean(0) for k in range(R)])
    assert got.shape == (R, d) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method,optimizer", [("auto", "adam"), ("analytic", "adam"), ("naive", "adam"),
                                              ("auto", "sgd")])
def test_inversion_beats_its_encoder_init_and_reports_true_errors(trained, method, optimizer):
    model, _, (x, row, row_label, c) = trained
    R = row_label.size
    z0 = encoder_means(model, x, row, row_label, c, R)
    lr = 0.05 if optimizer == "adam" else 1e-2
    codes, info = invert(model, x, row, row_label, c, z0, iters=60, lr=lr, progress=False, method=method,
                         optimizer=optimizer)
    assert codes.shape == (R, d) and codes.dtype == np.float32
    assert info["loss_final"] < 0.8 * info["loss_init"]
    P = Problem(model, x, row, row_label, c, need_frames=True)
    mse = lambda z: float(instance_losses(P, torch.as_tensor(z), "naive")[0].sum()) / x.size
    assert mse(codes) == pytest.approx(info["loss_final"], rel=1e-4)
    assert mse(z0) == pytest.approx(info["loss_init"], rel=1e-4)


def test_keep_best_never_returns_worse_codes_than_seen(trained):
    model, _, (x, row, row_label, c) = trained
    R = row_label.size
    z0 = encoder_means(model, x, row, row_label, c, R)
    kw = dict(iters=5, lr=50.0, schedule="constant", progress=False)
    best, info = invert(model, x, row, row_label, c, z0, keep_best=True, record_every=1, **kw)
    last, info_last = invert(model, x, row, row_label, c, z0, keep_best=False, **kw)
    assert info["loss_final"] <= info["loss_init"]
    assert info["loss_final"] <= min(h[2] for h in info["history"]) + 1e-9
    assert info_last["loss_final"] > info["loss_final"]        # a wild step size makes the last worse
    assert not np.allclose(best, last)
    same, _ = invert(model, x, row, row_label, c, z0, iters=0, progress=False)
    np.testing.assert_array_equal(same, z0.numpy())


def test_inversion_is_reproducible_independent_per_instance_and_accepts_targets(trained):
    model, vids, (x, row, row_label, c) = trained
    R = row_label.size
    z0 = encoder_means(model, x, row, row_label, c, R)
    kw = dict(iters=20, progress=False)
    a, _ = invert(model, x, row, row_label, c, z0, **kw)
    b, _ = invert(model, x, row, row_label, c, z0, **kw)
    np.testing.assert_array_equal(a, b)
    t, _ = invert(model, project_targets(model, x), row, row_label, c, z0, **kw)
    np.testing.assert_allclose(t, a, rtol=1e-5, atol=1e-5)
    # the instances of the first video alone (as one rank of a distributed run would see them)
    n0 = vids[0][0].shape[0]
    r0 = int(row[n0 - 1]) + 1
    part, _ = invert(model, x[:n0], row[:n0], row_label[:r0], c[:n0], z0[:r0], **kw)
    np.testing.assert_allclose(part, a[:r0], rtol=1e-4, atol=1e-4)


def test_bad_arguments_are_refused(trained):
    model, _, (x, row, row_label, c) = trained
    z0 = torch.zeros(row_label.size, d)
    with pytest.raises(ValueError):
        invert(model, x, row, row_label, c, z0[:-1], iters=1, progress=False)
    with pytest.raises(ValueError):
        invert(model, x, row, row_label, c, z0, iters=1, progress=False, method="magic")
    with pytest.raises(ValueError):
        invert(model, x, row, row_label, c, z0, iters=1, progress=False, optimizer="magic")
    with pytest.raises(ValueError):
        invert(model, project_targets(model, x), row, row_label, c, z0, iters=1, progress=False,
               method="naive")
    with pytest.raises(ValueError):
        invert(model, x, row, row_label, c[:-1], z0, iters=1, progress=False)
    with pytest.raises(ValueError):
        invert(model, x, row, row_label[:-1], c, z0[:-1], iters=1, progress=False)
    with pytest.raises(ValueError):
        invert(model, x, row, row_label + C, c, z0, iters=1, progress=False)


@pytest.mark.parametrize("c_scale", [1.0, 30.0, 300.0])
def test_closed_form_is_exact_when_many_units_switch_inside_instances(trained, c_scale, monkeypatch):
    from tascodec.encoding.invert_fast import Closed

    model, _, (x, row, row_label, c) = trained
    model = TCA.from_decoder(model.export_decoder(np.zeros(D), np.ones(D)))
    with torch.no_grad():
        model.dec1.weight[:, -1] *= c_scale                 # c moves pre-activations across zero
    Z = torch.randn(row_label.size, d, generator=torch.Generator().manual_seed(3))
    want_l, want_g = instance_losses(Problem(model, x, row, row_label, c, need_frames=True), Z, "naive", True)
    for block in (1 << 22, 5):                              # switching-unit pairs in one block, or many
        monkeypatch.setattr(Closed, "PAIR_BLOCK", block)
        P = Problem(model, x, row, row_label, c)
        got_l, got_g = instance_losses(P, Z, "closed", want_grad=True)
        scale = float(want_l.abs().max())
        torch.testing.assert_close(got_l, want_l, rtol=1e-5, atol=1e-6 * scale)
        torch.testing.assert_close(got_g, want_g, rtol=1e-4, atol=1e-5 * float(want_g.abs().max()))
    # later calls update G (F * w) sparsely where the always-on masks changed: still exact
    gen = torch.Generator().manual_seed(4)
    for step in range(4):
        Zs = Z + 0.05 * (step + 1) * torch.randn(Z.shape, generator=gen)
        want, _ = instance_losses(Problem(model, x, row, row_label, c, need_frames=True), Zs, "naive")
        got, _ = instance_losses(P, Zs, "closed")
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * float(want.abs().max()))
    assert P.closed._calls > 1
    U = Z @ P.w1z.T + P.ua + P.closed.cbar[:, None] * P.wc
    switching = (U + P.closed.dfirst[:, None] * P.wc > 0) ^ (U + P.closed.dlast[:, None] * P.wc > 0)
    assert int(switching.sum()) > (0 if c_scale == 1.0 else 50)


def test_auto_method_falls_back_when_instances_are_not_contiguous(trained):
    model, _, (x, row, row_label, c) = trained
    R = row_label.size
    perm = np.random.default_rng(0).permutation(row.size)
    xp, rp, cp = x[perm], row[perm], c[perm]
    with pytest.raises(ValueError):
        instance_losses(Problem(model, xp, rp, row_label, cp), torch.zeros(R, d), "closed")
    z0 = encoder_means(model, x, row, row_label, c, R)
    a, ia = invert(model, x, row, row_label, c, z0, iters=10, progress=False)
    b, ib = invert(model, xp, rp, row_label, cp, z0, iters=10, progress=False)
    assert (ia["method"], ib["method"]) == ("closed", "analytic")
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_no_instances_is_not_an_error():
    model = TCA(D, C, d, H, seed=0)
    x, row, lab, c = np.zeros((0, D), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    z0 = encoder_means(model, x, row, lab, c, 0)
    codes, info = invert(model, x, row, lab, c, z0, iters=3, progress=False)
    assert codes.shape == (0, d) and info["loss_final"] == 0.0
