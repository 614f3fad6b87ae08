"""The TCA generative prior: a conditional VAE over standardised frame features, and its training loop.

Shapes: N frames, D feature dim, C classes, d latent dim, H hidden width.
Encoder ``[x (D) | one-hot label (C) | c (1)] -> H -> ReLU -> 2d`` gives ``(mu, logvar)``;
decoder ``[z (d) | one-hot label (C) | c (1)] -> H -> ReLU -> D`` gives standardised features.
Loss per frame: squared error summed over D plus the KL to N(0, I) summed over d (weighted),
both averaged over the frames of a batch.

The one-hot input is never materialised: a first layer is ``W[:, :n] x + W[:, n + label] + c W[:, -1] + b``,
the same affine map as on the concatenated input.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn

from .._precision import tf32
from ..container.content import Decoder

# the measured defaults live in tascodec.encoding.defaults (one source of truth)
from ..encoding.defaults import HIDDEN as DEFAULT_HIDDEN, LATENT as DEFAULT_LATENT  # noqa: E402


def first_layer(lin: nn.Linear, x: Tensor, labels: Tensor, c: Tensor) -> Tensor:
    """``lin([x | onehot(labels) | c])`` without building the concatenation. ``x (N, n)`` -> ``(N, H)``."""
    n = x.shape[1]
    w = lin.weight
    return torch.addmm(lin.bias, x, w[:, :n].T) + w[:, n:-1].T[labels] + c[:, None] * w[:, -1]


class TCA(nn.Module):
    """Conditional VAE with two-layer MLP encoder and decoder (see the module docstring)."""

    def __init__(self, feature_dim: int, num_classes: int, latent_dim: int = DEFAULT_LATENT,
                 hidden: int = DEFAULT_HIDDEN, *, seed: int | None = None):
        super().__init__()
        self.feature_dim, self.num_classes = int(feature_dim), int(num_classes)
        self.latent_dim, self.hidden = int(latent_dim), int(hidden)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.enc1 = nn.Linear(feature_dim + num_classes + 1, hidden)
            self.enc2 = nn.Linear(hidden, 2 * latent_dim)
            self.dec1 = nn.Linear(latent_dim + num_classes + 1, hidden)
            self.dec2 = nn.Linear(hidden, feature_dim)

    def encode(self, x: Tensor, labels: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """``x (N, D)`` standardised, ``labels (N,)`` long, ``c (N,)`` -> ``mu, logvar (N, d)``."""
        h = torch.relu(first_layer(self.enc1, x, labels, c))
        mu, logvar = self.enc2(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, labels: Tensor, c: Tensor) -> Tensor:
        """``z (N, d)``, ``labels (N,)``, ``c (N,)`` -> standardised frames ``(N, D)``."""
        return self.dec2(torch.relu(first_layer(self.dec1, z, labels, c)))

    def forward(self, x: Tensor, labels: Tensor, c: Tensor,
                kl_weight: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
        """``(total, recon, kl)``: batch means of the per-frame squared error and KL."""
        mu, logvar = self.encode(x, labels, c)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = (self.decode(z, labels, c) - x).square().sum(1).mean()
        kl = (0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)).sum(1).mean()
        return recon + kl_weight * kl, recon, kl

    # --- the decoder as container content ---------------------------------------------------
    def export_decoder(self, mean: np.ndarray, std: np.ndarray, weights_dtype: str = "float32") -> Decoder:
        """The decoder with the feature normalisation ``x = decode(z) * std + mean``, as a ``Decoder``."""
        def arr(t: Tensor | np.ndarray) -> np.ndarray:
            if isinstance(t, Tensor):
                t = t.detach().to("cpu", torch.float32).numpy()
            return np.ascontiguousarray(np.asarray(t, np.float32).astype(weights_dtype))

        D = self.feature_dim
        mean, std = np.asarray(mean, np.float32).reshape(-1), np.asarray(std, np.float32).reshape(-1)
        if mean.shape != (D,) or std.shape != (D,):
            raise ValueError(f"mean and std must have shape ({D},), got {mean.shape} and {std.shape}")
        weights = {"w1": arr(self.dec1.weight), "b1": arr(self.dec1.bias), "w2": arr(self.dec2.weight),
                   "b2": arr(self.dec2.bias), "mean": arr(mean), "std": arr(std)}
        return Decoder(kind="mlp", feature_dim=D, latent_dim=self.latent_dim, num_classes=self.num_classes,
                       hidden=self.hidden, activation="relu", weights=weights, weights_dtype=weights_dtype)

    @classmethod
    def from_decoder(cls, decoder: Decoder, *, seed: int | None = None) -> "TCA":
        """A TCA whose decoder is ``decoder``'s (encoder freshly initialised)."""
        if decoder.kind != "mlp" or decoder.activation != "relu":
            raise ValueError(f"need an mlp/relu decoder, got {decoder.kind}/{decoder.activation}")
        model = cls(decoder.feature_dim, decoder.num_classes, decoder.latent_dim, decoder.hidden, seed=seed)
        w = decoder.float32_weights()
        with torch.no_grad():
            for name, param in (("w1", model.dec1.weight), ("b1", model.dec1.bias),
                                ("w2", model.dec2.weight), ("b2", model.dec2.bias)):
                if tuple(w[name].shape) != tuple(param.shape):
                    raise ValueError(f"decoder weight {name} has shape {w[name].shape}, "
                                     f"expected {tuple(param.shape)}")
                param.copy_(torch.from_numpy(w[name]))
        return model


@contextlib.contextmanager
def deterministic(device: torch.device | str):
    """On CPU, use torch's deterministic kernels inside the block, restoring the caller's setting after.

    With more than one thread, the backward of the indexed gather in ``first_layer`` (an
    ``index_put_`` with accumulation) otherwise adds into the weight gradient with parallel atomic
    adds, whose order, and so the trained weights, change from run to run. The deterministic kernel
    is serial and no slower at these sizes. CUDA runs are not made deterministic (not claimed).
    """
    if torch.device(device).type != "cpu":
        yield
        return
    old = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])


def epoch_seed(seed: int, epoch: int) -> int:
    """The RNG seed of one epoch, so a resumed run draws what an uninterrupted one would."""
    return (int(seed) * 1_000_003 + int(epoch)) % (2**63 - 1)


def train_tca(model: nn.Module, batches: Callable[[int], Iterable[tuple[Tensor, Tensor, Tensor]]], *,
              epochs: int, lr: float = 1e-3, kl_weight: float = 1.0, device: str | torch.device = "cpu",
              progress: bool = True, start_epoch: int = 0, optimizer_state: dict | None = None,
              on_epoch_end: Callable | None = None, seed: int | None = None, max_steps: int | None = None,
              start_step: int = 0) -> dict:
    """Train ``model`` (a TCA, possibly wrapped in DistributedDataParallel) with Adam.

    Args:
        batches: ``batches(epoch)`` yields ``(x_std (B, D) float32, labels (B,) long, c (B,) float32)``.
        epochs: total epochs; training runs epochs ``start_epoch .. epochs - 1``.
        optimizer_state: an Adam ``state_dict`` to resume from.
        on_epoch_end: ``on_epoch_end(epoch, model, optimizer, stats)`` after each epoch (0-based index
            of the epoch just finished), e.g. to checkpoint; resume with ``start_epoch = epoch + 1``.
        seed: seeds the reparameterisation noise per epoch: on CPU the same seed, data and thread count
            give bit-identical weights (deterministic kernels, see ``deterministic``), also when resumed.
        max_steps: stop after this many optimizer steps in all (counting the ``start_step`` steps taken
            before ``start_epoch``); the epoch where it stops ends early and is the last one. The
            progress bar then counts steps (with an ETA) instead of epochs.
    On CUDA, TF32 matmuls are allowed during training.
    Returns:
        ``{"train_loss", "train_recon", "train_kl", "epochs", "steps"}``: losses are frame-weighted means
        over the last epoch; ``steps`` counts optimizer steps from the start (``start_step`` included).
    """
    device = torch.device(device)
    with tf32(True, device), deterministic(device):
        return _train(model, batches, epochs, lr, kl_weight, device, progress, start_epoch, optimizer_state,
                      on_epoch_end, seed, max_steps, start_step)


def _train(model, batches, epochs, lr, kl_weight, device, progress, start_epoch, optimizer_state,
           on_epoch_end, seed, max_steps=None, start_step=0) -> dict:
    from tascodec.progress import tqdm

    if not isinstance(model, nn.parallel.DistributedDataParallel):
        model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
    step = int(start_step)
    stats = {"train_loss": math.nan, "train_recon": math.nan, "train_kl": math.nan, "epochs": start_epoch,
             "steps": step}
    by_step = max_steps is not None
    bar = tqdm(desc="train", unit="step" if by_step else "epoch", disable=not progress, dynamic_ncols=True,
               initial=step if by_step else start_epoch, total=max_steps if by_step else epochs)
    for epoch in range(start_epoch, epochs):
        if by_step and step >= max_steps:
            break
        if seed is not None:
            torch.manual_seed(epoch_seed(seed, epoch))
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        frames = 0
        for x, labels, c in batches(epoch):
            x = x.to(device, torch.float32, non_blocking=True)
            labels = labels.to(device, torch.long, non_blocking=True)
            c = c.to(device, torch.float32, non_blocking=True)
            total, recon, kl = model(x, labels, c, kl_weight=kl_weight)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sums += torch.stack([total.detach(), recon.detach(), kl.detach()]).double() * x.shape[0]
            frames += x.shape[0]
            step += 1
            if by_step:
                bar.update(1)
                if step >= max_steps:
                    break
        loss, rec, kl = (sums / max(frames, 1)).tolist()
        stats = {"train_loss": loss, "train_recon": rec, "train_kl": kl, "epochs": epoch + 1, "steps": step}
        if not by_step:
            bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", recon=f"{rec:.4g}", kl=f"{kl:.4g}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, opt, stats)
    bar.close()
    return stats
