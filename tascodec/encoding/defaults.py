"""Every encode default, in one place (no torch): the configuration (``config.EncodeConfig``, its
presets ``FAST`` and ``PAPER``), hence the library, the CLI's options and help texts, provenance and
the benchmarks read them from here.

Measured choices (figures in the README and the benchmarks named):

- TCA prior: hidden 1024, latent 256 (``benchmarks/encode.py``: at equal training time H = 1024
  beats H = 512); training stops at 30 epochs or 2,000 optimizer steps, whichever comes first, at
  batch 512 (``benchmarks/scale.py``: restored error flat past ~2,000 steps at two dataset sizes).
- Inversion: Adam from the encoder means, peak step 0.3 decayed by a cosine over 300 iterations
  (``benchmarks/encode.py``: passes the paper's 10K iterations at lr 1e-3 after ~100).
- Method ``pca`` (the default): with no shape or budget given, rate control at 0.5% of the raw
  float32 features (``benchmarks/rate.py``: it restores with 0.60-0.67x the error of a generic
  codec there; ``rate_downstream.py``: MS-TCN trained on it keeps the original's scores). A given
  shape without a budget fills the rest from 128 components, one code per 4 frames, int8 codes at
  127 levels and int8 weights; datasets too small for the default budget get that shape.
- Preset ``paper``: the paper's method (``inversion``) at its published settings.
"""
from __future__ import annotations

from typing import Any

HIDDEN = 1024  # TCA MLP width
LATENT = 256  # TCA code width d
TRAIN_LR = 1e-3  # Adam learning rate of TCA training (the paper's)
TRAIN_STEPS = 2000
INVERSION_LR = 0.3
INVERSION_ITERS = 300
K = 8  # instances per segment
PCA_COMPONENTS = 128
PCA_FRAMES_PER_CODE = 4
PCA_LEVELS = 127
TARGET_RATIO = 0.005  # method pca's budget when neither a shape nor a budget is given

# Memory bounds of an encode (bytes / frames; at D = 2048 a frame is 8 KiB as float32): with these,
# ``pipeline.memory_bound`` gives 3.0 GiB for Breakfast split 1 at 2048-d in one process (measured
# peaks: README "Encoding at scale"). Runtime settings: not recorded in provenance.
CACHE_BYTES = 1 << 30  # standardized features kept in RAM between epochs, per node
BUFFER_FRAMES = 1 << 16  # training shuffle buffer (512 MiB at D = 2048)
CHUNK_FRAMES = 1 << 15  # frames inverted together (256 MiB at D = 2048)
CHECKPOINT_SECONDS = 30.0  # minimum time between training checkpoints

# Presets: settings not given explicitly come from here. "fast" is the default (method pca unless
# --method says otherwise; its training and inversion settings serve --method inversion etc.). Training stops at
# "epochs" or "train_steps" optimizer steps, whichever comes first; an explicit --epochs alone (or
# --train-steps alone) replaces both.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"epochs": 30, "train_steps": TRAIN_STEPS, "iters": INVERSION_ITERS, "lr": INVERSION_LR,
             "batch_size": 512},
    "paper": {"method": "inversion", "epochs": 7500, "train_steps": None, "iters": 10000, "lr": 1e-3,
              "batch_size": 512},
}
FAST = PRESETS["fast"]
