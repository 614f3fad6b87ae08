"""One frozen, validated encode configuration (no torch, no click).

``EncodeConfig`` holds every setting of ``tasz encode`` in sections: ``data`` (how the dataset is
read), ``prior`` (the TCA prior and its training), ``codes`` (what is stored per instance: method,
inversion, pca and rate control) and ``runtime`` (where and how the encode runs; never changes the
result), plus ``seed`` and ``preset``. The presets are instances (``FAST``, ``PAPER``); every
default comes from :mod:`tascodec.encoding.defaults`. The same fields serve the Python API
(``tascodec.encode(data, out, config=..., **overrides)``), the ``tasz encode`` options (names,
types, ``Choice``\\ s, defaults and help are read from the field metadata), the container's
provenance (``record``) and the checkpoint fingerprint (``fingerprint``): a new setting is one
field here.

Values are checked when a config is made (also by ``replace``): a bad one raises ``UsageError``
naming the setting. ``None`` means "automatic" (e.g. ``latent_dtype``: int8 for pca, float16
otherwise) or, in a resolved config (``resolve()``), "not used by this method". Fields read flat
as well: ``config.K`` is ``config.codes.K``.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..container.content import CODE_DTYPES, WEIGHT_DTYPES
from ..data.layout import PARTS
from ..errors import UsageError
from . import defaults as D

METHODS = ("inversion", "encoded", "tca", "mean", "coreset", "pca")
REPEAT_METHODS = ("mean", "coreset")  # codes are frames: no prior, no normalisation
INITS = ("encoder", "random")
OPTIMIZERS = ("adam", "sgd")
_FAST = D.PRESETS["fast"]


def _rule(ok: Callable[[Any], bool], expected: str) -> tuple[Callable[[Any], bool], str]:
    return ok, expected


_POS_INT = _rule(lambda v: isinstance(v, int) and v >= 1, "an integer >= 1")
_NAT_INT = _rule(lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
_SHARE = _rule(lambda v: math.isfinite(v) and 0 < v <= 1, "in (0, 1]")
_POS = _rule(lambda v: math.isfinite(v) and v > 0, "a positive number")


def _f(default, help: str, *, check=None, choices=None, note: str | None = None, record: bool = True,
       fingerprint: bool | None = None, cli: bool = True):
    """A setting: ``help`` (API docs and ``--help``), ``check`` (predicate, expected) or ``choices``,
    ``note`` (what the default is when it is automatic or the preset's; the CLI shows it in
    brackets and leaves the option unset), ``record`` (in provenance), ``fingerprint`` (a resume
    must match it; default: ``record``), ``cli`` (a ``tasz encode`` option)."""
    return field(default=default, metadata={
        "help": help, "check": check, "choices": choices, "note": note, "record": record,
        "fingerprint": record if fingerprint is None else fingerprint, "cli": cli})


def _label(name: str) -> str:
    return name if name == "K" else name.replace("_", " ")


class _Section:
    """Normalises and checks its fields (frozen: ``dataclasses.replace`` makes a checked copy)."""

    def __post_init__(self):
        hints = _hints(type(self))
        for f in fields(self):
            if f.name in _SECTIONS:
                continue
            base, optional = _base(hints[f.name])
            v = getattr(self, f.name)
            if base is float and isinstance(v, numbers.Real) and not isinstance(v, bool):
                v = float(v)
            elif base is bool and v is not None:
                v = bool(v)
            elif base is tuple and v is not None:
                v = (v,) if isinstance(v, str) else tuple(v)
            object.__setattr__(self, f.name, v)
            if v is None and optional:
                continue
            meta = f.metadata
            if meta.get("choices") is not None and v not in meta["choices"]:
                raise UsageError(f"{_label(f.name)} must be one of {', '.join(meta['choices'])}, got {v!r}")
            if meta.get("check") is not None:
                ok, expected = meta["check"]
                try:
                    good = bool(ok(v))
                except TypeError:
                    good = False
                if not good:
                    raise UsageError(f"{_label(f.name)} must be {expected}, got {v!r}")


@dataclass(frozen=True)
class DataConfig(_Section):
    """How the dataset is read (the options of ``tascodec.data.layout.read_dataset``)."""

    labels: Path | None = _f(None, "Folder with groundTruth/, mapping.txt and splits/ when the features live "
                                   "apart", record=False)
    split: int = _f(1, "Split number of the bundles")
    part: str = _f("train", "Which part of the split to encode", choices=PARTS)
    sample_rate: int = _f(1, "Keep every n-th frame")
    background: tuple[str, ...] = _f(("background",), "Background class names")
    activity_pattern: str | None = _f(None, "Regex whose first group is a video's activity")
    trim: bool = _f(False, "Truncate videos whose feature and label lengths differ")

    def reader_options(self) -> dict[str, Any]:
        """The keywords of ``read_dataset`` but ``labels`` (as provenance records them)."""
        return {"split": self.split, "part": self.part, "sample_rate": self.sample_rate,
                "background": list(self.background), "activity_pattern": self.activity_pattern,
                "trim": self.trim}


@dataclass(frozen=True)
class PriorConfig(_Section):
    """The TCA prior: reused from a container, or trained on every frame of the split."""

    model: Path | None = _f(None, "Reuse the decoder of this .tasz (no training)", record=False)
    epochs: int | None = _f(_FAST["epochs"], "TCA training epochs (wins over --train-steps)", check=_POS_INT,
                            note=f"preset: {_FAST['epochs']}, capped at the step budget")
    train_steps: int | None = _f(_FAST["train_steps"], "TCA training budget in optimizer steps", check=_POS_INT,
                                 note=f"preset: {_FAST['train_steps']}, or {_FAST['epochs']} epochs if fewer")
    batch_size: int | None = _f(_FAST["batch_size"], "Training minibatch", check=_POS_INT,
                                note=f"preset: {_FAST['batch_size']}")
    hidden: int | None = _f(D.HIDDEN, "Hidden width of the TCA MLPs", check=_POS_INT, note=f"{D.HIDDEN}")
    kl_weight: float | None = _f(1.0, "Weight of the KL term",
                                 check=_rule(lambda v: math.isfinite(v) and v >= 0, "a number >= 0"))
    train_lr: float | None = _f(D.TRAIN_LR, "Adam learning rate of TCA training", check=_POS, cli=False)


@dataclass(frozen=True)
class CodesConfig(_Section):
    """What is stored per segment instance, and how it is found."""

    method: str = _f("pca", "pca (a transform codec: principal components, codes interpolated in time; "
                            "rate control at 0.5% of raw unless a shape or budget is given) | inversion (the "
                            "paper's: TCA prior, codes by inverting its decoder) | encoded (encoder means) | "
                            "tca (random codes) | mean | coreset", choices=METHODS)
    K: int | None = _f(None, "Instances (codes) per segment; with pca, knots per segment instead of "
                             "--frames-per-code", check=_POS_INT, note=f"{D.K}; pca: --frames-per-code")
    ratio: float = _f(1.0, "Fraction of videos to keep (diverse subset)", check=_SHARE)
    latent_dim: int | None = _f(None, "Latent size d", check=_POS_INT,
                                note=f"{D.LATENT}; pca: {D.PCA_COMPONENTS} components")
    latent_dtype: str | None = _f(None, "Storage type of the codes", choices=CODE_DTYPES,
                                  note="float16; pca: int8", fingerprint=False)  # only the final quantisation
    weights_dtype: str | None = _f(None, "Storage type of the decoder weights", choices=WEIGHT_DTYPES,
                                   note="float16: half the bytes of float32; pca: int8, which only pca can use")
    iters: int | None = _f(_FAST["iters"], "Inversion iterations", check=_NAT_INT, note=f"preset: {_FAST['iters']}")
    lr: float | None = _f(_FAST["lr"], "Inversion learning rate", check=_POS, note=f"preset: {_FAST['lr']}")
    init: str | None = _f(None, "Inversion start: encoder means, or random", choices=INITS,
                          note="encoder; random with --model")
    optimizer: str | None = _f("adam", "Inversion optimiser", choices=OPTIMIZERS)
    frames_per_code: int | None = _f(None, "pca: one code per this many frames of a segment",
                                     check=_POS_INT, note=f"{D.PCA_FRAMES_PER_CODE}")
    levels: int | None = _f(None, "pca, int8 codes: quantisation levels per sign, 1..127",
                            check=_rule(lambda v: isinstance(v, int) and 1 <= v <= 127, "an integer in 1..127"),
                            note=f"{D.PCA_LEVELS}")
    target_bytes: int | None = _f(None, "Byte budget of the whole file, e.g. 12MB, 500KB, 1.5GiB: method pca "
                                        "measures its configurations on a sample and writes the least-error one "
                                        "that fits", check=_POS_INT, record=False)
    target_ratio: float | None = _f(None, "Byte budget as a share of the raw float32 features, e.g. 0.001 "
                                          "(see --target-bytes)", check=_SHARE, record=False,
                                note=f"pca without a shape: {D.TARGET_RATIO:g}")
    target_default: bool = _f(False, "The budget is the default one (no shape or budget given): a dataset too "
                                     "small for it gets the fixed pca shape", record=False, cli=False)


@dataclass(frozen=True)
class RuntimeConfig(_Section):
    """Where and how the encode runs (not recorded in provenance). The shuffle buffer and the
    inversion chunk change which frames meet in a batch, so a resume must match them."""

    device: str | None = _f(None, "cpu, cuda, cuda:1, ...", note="cuda if available", record=False)
    force: bool = _f(False, "Replace an existing output file", record=False)
    progress: bool = _f(True, "Progress bars on stderr", record=False)
    resume: bool = _f(True, "Continue from a matching checkpoint (False discards it)", record=False)
    checkpoint_every: float = _f(D.CHECKPOINT_SECONDS, "Minimum seconds between training checkpoints",
                                 check=_rule(lambda v: v >= 0, "a number >= 0"), record=False, cli=False)
    cache_bytes: int = _f(D.CACHE_BYTES, "Standardized features kept in RAM between epochs, per node",
                          check=_NAT_INT, record=False, cli=False)
    buffer_frames: int = _f(D.BUFFER_FRAMES, "Training shuffle buffer in frames", check=_POS_INT, record=False,
                            fingerprint=True, cli=False)
    chunk_frames: int = _f(D.CHUNK_FRAMES, "Frames inverted together", check=_POS_INT, record=False,
                           fingerprint=True, cli=False)


_SECTIONS = {"data": DataConfig, "prior": PriorConfig, "codes": CodesConfig, "runtime": RuntimeConfig}


@dataclass(frozen=True)
class EncodeConfig(_Section):
    """Every encode setting; see the module docstring. ``FAST`` is ``EncodeConfig()``."""

    data: DataConfig = field(default_factory=DataConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    codes: CodesConfig = field(default_factory=CodesConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    seed: int = _f(0, "Seed. On CPU the same seed, data, settings and torch thread count give the same decoder "
                      "and codes, bit for bit (CUDA runs may differ slightly)",
                   check=_rule(lambda v: isinstance(v, int) and 0 <= v < 2**63, "an integer in [0, 2**63)"))
    preset: str = _f("fast", "fast: measured quick settings; paper: 7.5K epochs, 10K iterations",
                     choices=tuple(D.PRESETS))

    def __post_init__(self):
        for name, cls in _SECTIONS.items():
            v = getattr(self, name)
            if isinstance(v, dict):
                object.__setattr__(self, name, cls(**v))
            elif not isinstance(v, cls):
                raise UsageError(f"{name} must be a {cls.__name__}, got {type(v).__name__}")
        super().__post_init__()
        _check_together(self)

    def __getattr__(self, name: str):  # flat reads: config.K is config.codes.K
        section = _FLAT.get(name)
        if section is None or section not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.__dict__[section], name)

    def replace(self, **changes) -> EncodeConfig:
        """A checked copy with the given settings (flat names, e.g. ``K=4``, or whole sections)."""
        top: dict[str, Any] = {}
        per: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name in _TOP:
                top[name] = value
            elif name in _FLAT:
                per.setdefault(_FLAT[name], {})[name] = value
            else:
                raise TypeError(f"no encode setting named {name!r}")
        for section, kw in per.items():
            top[section] = dataclasses.replace(top.get(section, getattr(self, section)), **kw)
        return dataclasses.replace(self, **top)

    def values(self, which: str | None = None) -> dict[str, Any]:
        """Flat ``{name: value}``; ``which="record"`` or ``"fingerprint"``: only those settings."""
        return {info.name: getattr(self, info.name) for info in settings()
                if which is None or info.metadata[which]}

    def resolve(self) -> EncodeConfig:
        """The values an encode uses: the automatic ones filled in, the ones its method does not use
        set to None (what provenance records)."""
        c, p, m = self.codes, self.prior, self.codes.method
        base = preset(self.preset)
        pca, repeat, model = m == "pca", m in REPEAT_METHODS, p.model
        trains = not repeat and not pca and model is None
        inverts = m == "inversion"

        def given(section, name, used=True):
            v = getattr(section, name)
            return (v if v is not None else getattr(base, name)) if used else None

        shaped = any(v is not None for v in (c.latent_dim, c.frames_per_code, c.levels, c.weights_dtype,
                                             c.latent_dtype, c.K, c.target_bytes, c.target_ratio))
        target_default = c.target_default or (pca and not shaped)
        latent_dtype = c.latent_dtype or ("int8" if pca else "float16")
        latent_dim = c.latent_dim if c.latent_dim is not None else (D.PCA_COMPONENTS if pca else D.LATENT)
        codes = dataclasses.replace(
            c, K=c.K if pca else (c.K if c.K is not None else D.K), latent_dtype=latent_dtype,
            target_ratio=D.TARGET_RATIO if target_default else c.target_ratio, target_default=target_default,
            weights_dtype=None if repeat else (c.weights_dtype or ("int8" if pca else "float16" if trains else None)),
            iters=given(c, "iters", inverts), lr=given(c, "lr", inverts), optimizer=given(c, "optimizer", inverts),
            latent_dim=latent_dim if trains or pca else None,
            frames_per_code=(c.frames_per_code or D.PCA_FRAMES_PER_CODE) if pca and c.K is None else None,
            levels=(c.levels or D.PCA_LEVELS) if pca and latent_dtype == "int8" else None,
            init=(c.init or ("encoder" if model is None else "random")) if m in ("inversion", "encoded") else None)
        prior = dataclasses.replace(
            p, epochs=p.epochs if trains else None, train_steps=p.train_steps if trains else None,
            batch_size=given(p, "batch_size", trains), hidden=given(p, "hidden", trains),
            kl_weight=given(p, "kl_weight", trains), train_lr=given(p, "train_lr", trains))
        return dataclasses.replace(self, codes=codes, prior=prior)


def _check_together(c: EncodeConfig) -> None:
    """The rules that tie settings of several sections."""
    m, model = c.codes.method, c.prior.model
    if c.codes.weights_dtype == "int8" and m != "pca":
        raise UsageError("weights dtype int8 is for method pca (a linear decoder)")
    if m == "pca" and model is not None:
        raise UsageError("--model reuses a TCA decoder; method 'pca' (the default) fits its own basis: "
                         "use method inversion")
    if m in REPEAT_METHODS and model is not None:
        raise UsageError(f"--model reuses a TCA decoder; method {m!r} does not use one")
    if model is not None and c.codes.init == "encoder" and m in ("inversion", "encoded"):
        raise UsageError(f"{model}: a container holds no encoder, so --init encoder is impossible "
                         "with --model (use --init random)")
    if m == "encoded" and model is not None:
        raise UsageError(f"{model}: method 'encoded' needs the TCA encoder, which a container does not hold")
    if c.codes.target_bytes is not None or c.codes.target_ratio is not None:
        if m != "pca":
            raise UsageError(f"a byte budget is met by method pca's measured search; method {m!r} "
                             "has no rate control (use method pca)")
        if c.codes.target_bytes is not None and c.codes.target_ratio is not None:
            raise UsageError("give a target size or a target ratio, not both")
        if c.codes.K is not None and not c.codes.target_default:
            raise UsageError("rate control chooses the codes per segment: give K or a target, not both")
    if m == "pca" and c.codes.K is not None and c.codes.frames_per_code is not None:
        raise UsageError("give K (knots per segment) or frames per code, not both")
    trains = m not in REPEAT_METHODS and m != "pca" and model is None
    if trains and c.prior.epochs is None and c.prior.train_steps is None:
        raise UsageError("training needs a budget: give epochs or train steps")


# --- presets and options -------------------------------------------------------------------
def preset(name: str) -> EncodeConfig:
    """The preset ``name`` as a config (read from ``defaults.PRESETS`` now)."""
    if name not in D.PRESETS:
        raise UsageError(f"preset must be one of {', '.join(D.PRESETS)}, got {name!r}")
    return EncodeConfig(preset=name).replace(**D.PRESETS[name])


def from_options(config: EncodeConfig | None = None, **options) -> EncodeConfig:
    """``config`` (default: the ``preset`` option's, else ``FAST``) with the flat ``options`` given.

    An option of value ``None`` counts as not given. As on the command line, ``epochs`` alone (or
    with ``train_steps``: explicit epochs win) drops the step budget and ``train_steps`` alone the
    epoch limit.
    """
    given = {k: v for k, v in options.items() if v is not None}
    name = given.pop("preset", None)
    if config is not None and not isinstance(config, EncodeConfig):
        raise UsageError(f"config must be an EncodeConfig, got {type(config).__name__}")
    if config is not None and name is not None and name != config.preset:
        raise UsageError(f"give a config or a preset, not both (config of preset {config.preset!r}, "
                         f"preset {name!r})")
    base = config if config is not None else preset(name or "fast")
    if "epochs" in given:
        given["train_steps"] = None
    elif "train_steps" in given:
        given["epochs"] = None
    return base.replace(**given)


class Setting(NamedTuple):
    """One field of the config, as the CLI and the docs see it."""

    name: str
    section: str | None  # None: a field of EncodeConfig itself
    type: type  # int, float, str, bool, tuple (of str) or Path
    optional: bool  # None allowed
    default: Any
    metadata: Any


def settings() -> list[Setting]:
    """Every setting in order: the sections' fields, then ``seed`` and ``preset``."""
    out = []
    for section, cls in [*_SECTIONS.items(), (None, EncodeConfig)]:
        hints = _hints(cls)
        for f in fields(cls):
            if f.name in _SECTIONS:
                continue
            base, optional = _base(hints[f.name])
            out.append(Setting(f.name, section, base, optional, f.default, f.metadata))
    return out


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base(hint) -> tuple[type, bool]:
    args = typing.get_args(hint)
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        optional = type(None) in args
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    return (origin if origin is not None else hint), optional


_FLAT = {f.name: section for section, cls in _SECTIONS.items() for f in fields(cls)}
_TOP = {f.name for f in fields(EncodeConfig)}
FAST = preset("fast")
PAPER = preset("paper")
