"""``tasz encode``: a TAS dataset in, one ``.tasz`` container out.

Stages: read the split (labels now, features lazily) -> feature mean/std (one streaming pass)
-> train the TCA prior on every frame of the split (or reuse ``model=OTHER.tasz``'s decoder)
-> choose the videos to keep (``ratio``) -> per chunk of kept videos: codes by the chosen
method -> quantize -> write the container atomically.

Resumable: training and finished chunks are checkpointed beside the output (``OUT.tasz.ckpt/``)
and a rerun of the same command continues. Distributed under ``torchrun``: each rank reads a share
of the videos for the statistics and of the frames for training (``frames.rank_share``), gradients
are averaged (DDP), ranks split the inversion chunks, rank 0 writes the file (provenance
``frames_read`` lists what each rank read per stage).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from .._io import check_writable
from ..container.content import Content, Decoder
from ..container.quant import quantize
from ..container.writer import utc_now
from ..data.layout import TASDataset, read_dataset
from ..data.segments import instance_counts
from ..errors import UsageError
from ..model.tca import TCA, train_tca
from . import defaults, distributed
from .checkpoint import Checkpoint, fingerprint
from .config import METHODS, REPEAT_METHODS, EncodeConfig, from_options  # noqa: F401 - METHODS re-exported
from .frames import (FrameStore, chunk_owners, chunk_videos, feature_stats, load_chunk, steps_per_epoch,
                     training_batches, video_tables)
from .invert import DEFAULT_LR, encoder_means, invert

TRAIN_STEPS = defaults.TRAIN_STEPS
PRESETS = defaults.PRESETS  # settings not given explicitly come from here; "fast" is the default

# Memory bounds (defaults.CACHE_BYTES ..): ``memory_bound`` gives 3.0 GiB for Breakfast split 1 at
# 2048-d in one process (5.3 GiB with the former 2 GiB cache, 1 GiB buffer and 512 MiB chunks);
# measured peaks: README "Encoding at scale".
CACHE_BYTES, BUFFER_FRAMES, CHUNK_FRAMES = defaults.CACHE_BYTES, defaults.BUFFER_FRAMES, defaults.CHUNK_FRAMES
BASE_BYTES = 300 << 20  # python, numpy, torch and tascodec loaded (measured 224 MiB)


def encode(data_dir, out, config: EncodeConfig | None = None, **overrides) -> Path:
    """Encode the TAS dataset at ``data_dir`` into the container ``out``; returns ``out``.

    ``config``: an ``EncodeConfig`` (``tascodec.encoding.config``; default: the ``preset``
    keyword's, ``FAST`` unless ``preset="paper"``). ``overrides``: any of its settings by flat name
    (``K=4``, ``method="pca"``, ``epochs=..``), replacing the config's; ``None`` counts as not given,
    and ``epochs`` alone (or ``train_steps`` alone) replaces both parts of the training budget.
    The settings and their checks are documented on the config's fields: dataset options (``labels``
    .. ``trim``, those of ``tascodec.data.layout.read_dataset``); ``method`` (default ``pca``: with
    no shape or budget given, rate control at ``defaults.TARGET_RATIO`` of the raw features):
    ``inversion`` (the paper's: codes optimised against the frozen decoder), ``encoded`` (the
    encoder's mean per instance), ``tca`` (no codes: random at decode time), ``mean`` / ``coreset``
    (an instance's mean frame / the frame nearest it), ``pca`` (a transform codec: ``latent_dim``
    principal components, one code per ``frames_per_code`` frames of a segment, interpolated in
    time; int8 codes at ``levels`` levels); ``target_bytes`` / ``target_ratio`` (a share of the raw
    float32 features): rate control for ``pca``, which then measures and picks ``latent_dim``,
    ``frames_per_code``, ``levels`` and ``weights_dtype`` (see ``ratecontrol``); ``K``: instances
    per segment (for ``pca``: knots per segment, instead of ``frames_per_code``); ``ratio``:
    fraction of videos kept (diverse subset); ``model``: a ``.tasz`` whose decoder is reused (no
    training); ``weights_dtype`` defaults to int8 for pca, float16 otherwise (or the reused
    decoder's); ``init`` to ``encoder`` (``random`` with ``model``); ``device`` to cuda when
    available; ``resume``: continue from a matching checkpoint (``False`` discards it).

    Raises ``DatasetError`` for bad data and ``UsageError`` for bad options or an existing
    output (unless ``force``); nothing is ever left at ``out`` unless the encode succeeded.
    """
    started = time.monotonic()
    out = Path(out)
    cfg = from_options(config, **overrides).resolve()
    check_writable(out, cfg.force)
    ds = read_dataset(data_dir, labels=cfg.labels, **cfg.data.reader_options())
    reused = _load_model(cfg.model, ds) if cfg.model is not None else None

    group, device = distributed.setup(cfg.device)
    job = None
    try:
        job = _Job(ds, out, cfg, group, device, started=started, reused=reused)
        job.run()
    finally:
        if job is not None:
            job.ckpt.close()  # releases the checkpoint's lock
        distributed.close(group)
    return out


# --- settings ----------------------------------------------------------------------------------
def _resolve(**options) -> EncodeConfig:
    """The resolved config of these ``encode`` keywords (``None``: not given)."""
    return from_options(**options).resolve()


def _load_model(path, ds: TASDataset) -> Decoder:
    """The decoder of another container, checked against this dataset."""
    from ..container.reader import open_container

    with open_container(path) as container:
        vocab = list(container.vocab)
        dec = container.content().decoder  # weights in their stored dtype: the digest is kept
    if dec.kind != "mlp":
        raise UsageError(f"{path}: its decoder is of kind {dec.kind!r} (a baseline), not a TCA decoder")
    if dec.feature_dim != ds.feature_dim:
        raise UsageError(f"{path}: its decoder makes {dec.feature_dim}-d features, the dataset has "
                         f"{ds.feature_dim}-d features")
    if vocab != ds.vocab:
        raise UsageError(f"{path}: its vocabulary ({len(vocab)} classes) differs from the dataset's "
                         f"mapping.txt ({len(ds.vocab)} classes); class ids would not match")
    return dec


# --- the job ----------------------------------------------------------------------------------
class _Job:
    """One encode: the stages in order, with checkpointing and (optionally) several ranks."""

    def __init__(self, ds: TASDataset, out: Path, s: EncodeConfig, group, device: str, *, started: float,
                 reused: Decoder | None):
        """``s``: the resolved config (rate control replaces its pca settings with the chosen ones)."""
        self.ds, self.out, self.s, self.group, self.device = ds, out, s, group, device
        self.started, self.reused = started, reused
        r = s.runtime
        self.progress, self.force = r.progress and group.is_root, r.force
        self.checkpoint_every = float(r.checkpoint_every)
        self.cache_bytes, self.buffer_frames, self.chunk_frames = r.cache_bytes, r.buffer_frames, r.chunk_frames
        self.losses: dict[str, float] = {}
        targeted = s.target_bytes is not None or s.target_ratio is not None
        self.target = {"bytes": s.target_bytes, "ratio": s.target_ratio} if targeted else None  # + what was met
        if targeted and s.target_default:
            self.target["default"] = True
        self.facts = {"model": reused.sha256() if reused is not None else None, "target": self.target}
        self.ckpt = Checkpoint(out, fingerprint(s, ds, **self.facts), resume=r.resume, writer=group.is_root)
        distributed.barrier(group)  # rank 0 has discarded a stale checkpoint before anyone reads it

    def run(self) -> None:
        s, ds = self.s, self.ds
        self.reads: dict[str, int] = {}  # frames this rank read from the feature files, per stage
        kept = self._select()
        if s.method == "pca":
            return self._run_pca(kept)
        encoder = None
        if s.method in REPEAT_METHODS:
            decoder = Decoder(kind="repeat", feature_dim=ds.feature_dim, latent_dim=ds.feature_dim,
                              num_classes=len(ds.vocab))
            store = FrameStore(ds, np.zeros(ds.feature_dim, np.float32), np.ones(ds.feature_dim, np.float32),
                               cache_bytes=self._cache_budget())
        elif self.reused is not None:
            decoder = self.reused
            w = decoder.float32_weights()
            store = FrameStore(ds, w["mean"], w["std"], cache_bytes=self._cache_budget())
        else:
            g = self.group  # each rank reads its share of the videos; the moments are merged
            share = ds.videos[g.rank::g.world]
            mean, std = feature_stats(ds, share, progress=self.progress, merge=distributed.moments_merger(g))
            self.reads["stats"] = sum(ds.num_frames(v) for v in share)
            store = FrameStore(ds, mean, std, cache_bytes=self._cache_budget())
            encoder = self._train(store)
            self.reads["train"] = store.frames_read
            decoder = encoder.export_decoder(mean, std, s.weights_dtype)

        codes = None
        if s.method != "tca":
            before = store.frames_read
            codes = self._codes(store, kept, decoder, encoder)
            self.reads["codes"] = store.frames_read - before
        self.frames_read = distributed.gather_counts(self.group, self.reads)
        if self.group.is_root:
            self._write(kept, decoder, codes)

    # --- stages ---------------------------------------------------------------------------
    def _cache_budget(self) -> int:
        per_node = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        return int(self.cache_bytes) // per_node

    def _select(self) -> list[str]:
        """The videos to store: all, or a diverse subset of ``ratio`` of them."""
        ds = self.ds
        if self.s.ratio >= 1.0:
            return ds.videos
        from ..subsetting import select, sequences_of

        seqs = sequences_of((ds.segments(v)[0] for v in ds.videos), ds.background_ids)
        keep = select(seqs, ratio=self.s.ratio, strategy="diverse", seed=self.s.seed)
        return [ds.videos[i] for i in sorted(keep)]

    def _train(self, store: FrameStore):
        """Train the TCA on every frame of the split (resuming from a checkpoint if any)."""
        s, g = self.s, self.group
        net = TCA(self.ds.feature_dim, len(self.ds.vocab), s.latent_dim, s.hidden, seed=s.seed)
        saved = self.ckpt.load_training()
        start = self.ckpt.epoch if saved is not None else 0
        if saved is not None:
            net.load_state_dict(saved["model"])
        net.to(self.device)
        stats = self.ckpt.state.get("train_stats") or {}
        per_epoch, total_steps, epochs = self._budget()
        if start < epochs:
            if s.batch_size < g.world:
                raise UsageError(f"batch size {s.batch_size} is smaller than the {g.world} ranks sharing each batch")
            wrapped = net
            if g.active:
                from torch.nn.parallel import DistributedDataParallel

                wrapped = DistributedDataParallel(net, device_ids=[g.local_rank] if g.comm_device != "cpu" else None)
            numpy_batches = training_batches(store, self.ds.videos, batch_size=s.batch_size, seed=s.seed,
                                             buffer_frames=self.buffer_frames, rank=g.rank, world=g.world)

            def batches(epoch):
                for x, l, c in numpy_batches(epoch):
                    yield torch.from_numpy(x), torch.from_numpy(l), torch.from_numpy(c)

            last_save = time.monotonic()

            def on_epoch_end(epoch, model, optimizer, epoch_stats):
                nonlocal last_save
                done = epoch + 1
                if done == epochs or time.monotonic() - last_save >= self.checkpoint_every:
                    self.ckpt.save_training(done, net.state_dict(), optimizer.state_dict(), epoch_stats)
                    last_save = time.monotonic()

            stats = train_tca(wrapped, batches, epochs=epochs, lr=s.train_lr, kl_weight=s.kl_weight,
                              device=self.device, progress=self.progress, start_epoch=start,
                              optimizer_state=saved["optimizer"] if saved is not None else None,
                              on_epoch_end=on_epoch_end, seed=_rank_seed(s.seed, g.rank),
                              max_steps=total_steps, start_step=start * per_epoch)
        if stats:
            recon = stats.get("train_recon")
            if recon is not None and math.isfinite(recon):
                recon = distributed.mean_over_ranks(g, [recon], 1.0)[0] if start < epochs else recon
                self.losses["train"] = recon / self.ds.feature_dim
        net.eval()
        return net

    def _budget(self) -> tuple[int, int, int]:
        """``(steps per epoch, total steps, epochs begun)`` of training: the epoch limit or the step
        budget, whichever ends first (every epoch but the last is whole). Recorded in provenance."""
        s = self.s
        n, B = int(self.ds.total_frames), int(s.batch_size)
        per_epoch = steps_per_epoch(n, B, self.group.world)
        total = per_epoch * s.epochs if s.epochs else s.train_steps
        if s.train_steps is not None:
            total = min(total, s.train_steps)
        epochs = -(-total // per_epoch)
        self.budget = {"train_steps_run": int(total), "train_epochs_run": round(total / per_epoch, 3),
                       "train_frames_seen": int(min(total * B, epochs * n))}
        return per_epoch, total, epochs

    def _codes(self, store: FrameStore, kept: list[str], decoder: Decoder, encoder) -> np.ndarray:
        """Codes of every instance of the kept videos, ``(R, d) float32``, chunk by chunk."""
        s, g = self.s, self.group
        frames = [self.ds.num_frames(v) for v in kept]
        chunks = chunk_videos(frames, self.chunk_frames)
        rows = [sum(int(store.tables(kept[j], s.K).seg_instances.sum()) for j in ch) for ch in chunks]
        owners = chunk_owners([sum(frames[j] for j in ch) for ch in chunks], g.world)
        dec_model = None
        if s.method not in REPEAT_METHODS:
            dec_model = TCA.from_decoder(decoder).to(self.device).eval()
        local: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        mine = [i for i in range(len(chunks)) if owners[i] == g.rank]
        digest = decoder.sha256()
        for i in _bar(mine, "chunks", self.progress):
            saved = self.ckpt.load_chunk(i, rows[i], decoder.latent_dim, digest)
            if saved is not None:
                codes, info = saved
            else:
                chunk = load_chunk(store, [kept[j] for j in chunks[i]], s.K,
                                   standardized=s.method not in REPEAT_METHODS)
                codes, info = self._chunk_codes(i, chunk, dec_model, encoder)
                del chunk  # before the next chunk is read: one chunk of frames in memory at a time
                self.ckpt.save_chunk(i, codes, info, digest)
            local[i] = (codes, np.array([info.get("frames", math.nan), info.get("loss", math.nan)], np.float64))
        gathered = distributed.collect_chunks(g, owners, rows, decoder.latent_dim, local)
        if gathered is None:
            return None
        n = sum(info[0] for _, info in gathered if math.isfinite(info[1]))
        if n:
            self.losses[s.method] = float(sum(info[0] * info[1] for _, info in gathered
                                                 if math.isfinite(info[1])) / n)
        if not gathered:
            return np.zeros((0, decoder.latent_dim), np.float32)
        return np.concatenate([c for c, _ in gathered]).astype(np.float32, copy=False)

    def _chunk_codes(self, i: int, chunk, dec_model, encoder) -> tuple[np.ndarray, dict[str, Any]]:
        """One chunk's codes and ``info`` (``frames``; ``loss``: MSE per standardized element)."""
        from .baselines import coreset_codes, mean_codes

        s = self.s
        if s.method == "mean":
            return mean_codes(chunk.x, chunk.row, chunk.num_rows), {}
        if s.method == "coreset":
            return coreset_codes(chunk.x, chunk.row, chunk.num_rows), {}
        if s.init == "encoder":
            z0 = encoder_means(encoder, chunk.x, chunk.row, chunk.row_label, chunk.c, chunk.num_rows,
                               device=self.device)
        else:
            gen = torch.Generator().manual_seed(_chunk_seed(s.seed, i))
            z0 = torch.randn(chunk.num_rows, dec_model.latent_dim, generator=gen)
        # "encoded" keeps z0: zero iterations only measure its loss
        codes, info = invert(dec_model, chunk.x, chunk.row, chunk.row_label, chunk.c, z0,
                             iters=s.iters if s.method == "inversion" else 0, lr=s.lr or DEFAULT_LR,
                             optimizer=s.optimizer or "adam", device=self.device,
                             progress=self.progress, keep_best=True)
        return np.asarray(codes, np.float32), {"frames": int(chunk.x.shape[0]), "loss": info["loss_final"],
                                               "loss_init": info["loss_init"]}

    def _run_pca(self, kept: list[str]) -> None:
        """Method ``pca``: fit the basis on the kept videos, then each video's knots (one process:
        under torchrun, rank 0 does it all and the other ranks have nothing to do)."""
        from . import transform

        if not self.group.is_root:
            return
        s, ds = self.s, self.ds
        frames = [ds.num_frames(v) for v in kept]
        if not kept or not sum(frames):
            raise UsageError(f"{ds.root}: no frames to encode")
        tables = [video_tables(ds, v, 1) for v in kept]
        if self.target:
            try:
                return self._run_rate_control(kept, frames, tables)
            except UsageError as e:
                if not self.target.get("default"):
                    raise
                # a dataset too small for the default budget: the fixed shape, said once
                self.s = s = s.replace(latent_dim=defaults.PCA_COMPONENTS, frames_per_code=defaults.PCA_FRAMES_PER_CODE,
                                       levels=defaults.PCA_LEVELS, weights_dtype="int8")
                for key in ("chosen", "estimated_error", "sample_frames", "candidates"):
                    self.target.pop(key, None)
                self.target["fallback"] = f"the default budget does not fit ({e}); wrote the fixed pca shape"
                if self.progress:
                    print(f"rate control: {self.target['budget_bytes']:,} bytes (the default, "
                          f"{100 * defaults.TARGET_RATIO:g}% of raw) is too small for this dataset; writing "
                          f"{defaults.PCA_COMPONENTS} components, one code per {defaults.PCA_FRAMES_PER_CODE} frames "
                          "(--target-bytes / --target-ratio choose a budget)", file=sys.stderr)
        with _progress(len(kept), "basis", self.progress) as step:
            comp = transform.fit_components(ds.features, kept, frames, s.latent_dim, progress=step)
        self._write_pca(kept, tables, comp.basis(s.latent_dim, s.weights_dtype))

    def _write_pca(self, kept, tables, basis, out: Path | None = None) -> None:
        from . import transform

        s, ds = self.s, self.ds
        self.losses["pca_floor"] = transform.residual_fraction(basis)
        self.s = s = s.replace(latent_dim=basis.k)  # fewer when k > D: all components
        for t in tables:  # K knots per segment, or one per frames_per_code frames
            t.seg_instances = (instance_counts(t.seg_length, s.K) if s.K is not None
                               else transform.knot_counts(t.seg_length, s.frames_per_code))
        proj = basis.projector()
        stats = transform.CodeStats.empty(basis.k)
        # filled in place: the codes of a Breakfast-sized split are ~1 GB of float32, held once
        z = np.empty((sum(int(np.sum(t.seg_instances, dtype=np.int64)) for t in tables), basis.k), np.float32)
        r0 = 0
        with _progress(len(kept), "codes", self.progress) as step:
            for v, t in zip(kept, tables):
                zv = transform.video_codes(ds.features(v), t.seg_length, t.seg_instances, proj, stats)
                z[r0:r0 + len(zv)] = zv
                r0 += len(zv)
                step(1)
        quantized = transform.quantize_codes(z, s.latent_dtype, s.levels or defaults.PCA_LEVELS)
        layouts = [(t.seg_length, t.seg_instances) for t in tables]
        residual, self.losses["restored"] = transform.code_residuals(stats, z, quantized, layouts, proj[0])
        self._write(kept, basis.decoder(len(ds.vocab)), z, tables=tables, out=out, quantized=quantized,
                    residual_sd=residual)

    def _run_rate_control(self, kept, frames, tables) -> None:
        """Measure, choose, encode; shrink the budget by the overshoot and retry (three times at most).

        Every try is written to the output's own temporary (``atomic_path``), renamed into place
        only when it fits.
        """
        from .._io import atomic_path
        from . import ratecontrol

        s, ds = self.s, self.ds
        target = self.target
        budget = target["bytes"] or int(target["ratio"] * sum(frames) * ds.feature_dim * 4)
        target["budget_bytes"] = budget
        self.s = s = s.replace(latent_dtype="int8")
        lengths = {v: t.seg_length for v, t in zip(kept, tables)}
        with atomic_path(self.out, self.force) as tmp:
            overhead = self._overhead_bytes(kept, tables, tmp)
            comp, aim = None, budget
            for _ in range(3):
                choice, comp = ratecontrol.choose(ds.features, kept, lengths, overhead, aim, components=comp)
                self.s = s = s.replace(latent_dim=choice.latent_dim, frames_per_code=choice.frames_per_code,
                                       levels=choice.levels, weights_dtype=choice.weights_dtype)
                target.update(chosen=choice.describe(), estimated_error=choice.estimated_error,
                              sample_frames=choice.sample_frames, candidates=choice.candidates)
                basis = ratecontrol.basis(choice, comp)
                self._write_pca(kept, [video_tables(ds, v, 1) for v in kept], basis, out=tmp)
                size = tmp.stat().st_size
                if size <= budget:
                    break
                aim = min(aim, budget - (size - choice.estimated_bytes)) - 1  # less the estimate's shortfall
            else:
                raise UsageError(f"{self.out}: rate control could not meet {budget:,} bytes (last try {size:,})")
        if self.progress:
            default = (f" (the default, {100 * defaults.TARGET_RATIO:g}% of raw; --target-bytes / --target-ratio "
                       "choose another)") if target.get("default") else ""
            print(f"rate control: {budget:,}-byte budget{default}: {choice.describe()}; wrote {size:,} bytes, "
                  f"restored error {self.losses['restored']:.4g} over all {sum(frames):,} frames", file=sys.stderr)
        self.ckpt.remove()

    def _overhead_bytes(self, kept, tables, path: Path) -> int:
        """Bytes of a container with these tables and metadata but (almost) no weights or codes."""
        from ..container.writer import write_container

        ds = self.ds
        tables = [replace(t, seg_instances=np.ones_like(t.seg_instances)) for t in tables]  # one row each
        dec = Decoder(kind="linear", feature_dim=ds.feature_dim, latent_dim=1, num_classes=len(ds.vocab),
                      activation="identity", weights={"w": np.zeros((ds.feature_dim, 1), np.float32),
                                                      "b": np.zeros(ds.feature_dim, np.float32)})
        content = self._content(kept, dec, tables)
        content.codes = np.zeros((content.num_rows, 1), np.float32)
        content.residual_sd = np.zeros(1, np.float16)  # its entry's overhead; rate control counts 2 bytes per component
        content.provenance = self._provenance(kept)
        write_container(content, path, force=True)
        return path.stat().st_size

    def _content(self, kept: list[str], decoder: Decoder, tables) -> Content:
        ds = self.ds
        counts = np.array([t.seg_label.size for t in tables], np.int64)
        return Content(
            vocab=list(ds.vocab), videos=list(kept),
            video_segments=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            seg_label=_cat([t.seg_label for t in tables], np.int32),
            seg_length=_cat([t.seg_length for t in tables], np.int64),
            seg_instances=_cat([t.seg_instances for t in tables], np.int32),
            decoder=decoder, background=list(ds.background),
            activities=[ds.activity(v) for v in kept] if ds.activity_pattern else None,
        )

    def _write(self, kept: list[str], decoder: Decoder, codes: np.ndarray | None, *, tables=None,
               quantized=None, out: Path | None = None, residual_sd: np.ndarray | None = None) -> None:
        """Write the container (to ``out`` instead of the output: a scratch file of rate control);
        ``residual_sd``: the linear decoder's noise-filling levels (``transform.code_residuals``)."""
        from ..container.writer import write_container

        s, ds = self.s, self.ds
        if tables is None:
            tables = [video_tables(ds, v, s.K) for v in kept]
        content = self._content(kept, decoder, tables)
        if codes is None:
            content.random_seed = s.seed
        else:
            content.codes, content.code_scale = quantized or quantize(codes, s.latent_dtype)
            content.codes_dtype = s.latent_dtype
        content.residual_sd = residual_sd
        content.provenance = self._provenance(kept)
        write_container(content, out or self.out, force=self.force or out is not None,
                        created=content.provenance["created"])
        if out is None:
            self.ckpt.remove()

    def _provenance(self, kept: list[str]) -> dict[str, Any]:
        s, ds = self.s, self.ds
        settings = {k: v for k, v in s.values("record").items() if k != "method"}  # the resolved config
        settings.update(self.facts, device=self.device, world_size=self.group.world)
        settings.update(getattr(self, "budget", {}))
        prov: dict[str, Any] = {
            "dataset": ds.name, "part": ds.part,
            "source_videos": len(ds), "source_frames": int(ds.total_frames),
            "kept_videos": len(kept), "kept_frames": int(sum(ds.num_frames(v) for v in kept)),
            "trimmed_frames": int(sum(ds.dropped_frames.values())),
            "labels_sha256": ds.labels_hash(), "feature_dim": ds.feature_dim, "sample_rate": int(ds.sample_rate),
            "method": s.method, "settings": settings,
            "losses": {k: float(v) for k, v in self.losses.items() if math.isfinite(v)},
            "tascodec_version": __version__,
            "created": utc_now(),
            "wall_time_s": round(time.monotonic() - self.started, 3),
        }
        if ds.split is not None:
            prov["split"] = int(ds.split)
        if getattr(self, "frames_read", None):  # {"stats"|"train"|"codes": [frames read by each rank]}
            prov["frames_read"] = self.frames_read
        return prov


def memory_bound(feature_dim: int, *, frames: int, longest: int, rows: int, num_classes: int = 64,
                 latent_dim: int = 256, hidden: int = 1024, batch_size: int = 512,
                 cache_bytes: int = CACHE_BYTES, buffer_frames: int = BUFFER_FRAMES,
                 chunk_frames: int = CHUNK_FRAMES, base: int = BASE_BYTES) -> int:
    """An upper estimate of an encode's peak memory in bytes, from the quantities that bound it.

    ``frames`` of the split, its ``longest`` video, ``rows`` instances (codes). The features enter
    only through the buffers: the cache (``cache_bytes``), the training buffer or one inversion
    chunk (each at least one whole video, held twice while it is assembled) and one video in
    float64 for the statistics; the rest grows with the frames at a few bytes per frame (labels,
    coherence) and with the codes. Nothing in it grows with ``frames * feature_dim``.
    """
    f = 4 * int(feature_dim)
    params = ((feature_dim + num_classes + 1) * hidden + hidden * 2 * latent_dim
              + (latent_dim + num_classes + 1) * hidden + hidden * feature_dim)
    model = 4 * 4 * params  # weights, gradients, Adam's two moments
    train = 2 * max(buffer_frames, longest) * f + 4 * batch_size * (f + 4 * hidden)
    n = max(chunk_frames, longest)
    invert = 2 * n * f + 6 * n * 4 * hidden  # frames, and per-frame hidden-size work tensors
    stats = 3 * longest * f
    tables = 32 * int(frames) + 4 * 4 * int(rows) * latent_dim  # per-frame ids; codes, gathered and quantized
    return int(base + cache_bytes + model + max(train, invert, stats) + tables)


def _rank_seed(seed: int, rank: int) -> int:
    """Rank 0 draws the single-process noise; other ranks draw independent noise."""
    return seed if rank == 0 else int(np.random.SeedSequence((seed, rank)).generate_state(1, np.uint64)[0] >> 1)


def _chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence((seed, 7, chunk)).generate_state(1, np.uint64)[0] >> 1)


def _cat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)


@contextlib.contextmanager
def _progress(total: int, desc: str, enabled: bool):
    """A step callback for ``total`` videos under a progress bar (or a no-op)."""
    if not enabled:
        yield lambda n=1: None
        return
    from ..progress import tqdm  # drawn on a terminal only

    bar = tqdm(total=total, desc=desc, unit="video", leave=False, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()


def _bar(it, desc: str, enabled: bool):
    if not enabled:
        return it
    from tascodec.progress import tqdm

    return tqdm(it, desc=desc, unit="chunk", leave=False, dynamic_ncols=True)
