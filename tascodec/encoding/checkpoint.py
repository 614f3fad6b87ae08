"""Resumable encodes: training and inversion state kept beside the output, without pickle.

``OUT.tasz.ckpt/`` holds::

    state.json            fingerprint of the settings and dataset + training progress (commit point)
    train-<epoch>.npz     model and optimizer state dicts after <epoch> epochs
    chunk-<i>.npz         codes (rows, d) float32 + info of finished inversion chunk i (tied to the
                          fingerprint and to the digest of the decoder that made them)
    lock                  flock'ed by the encode that owns the output (its pid inside), so a second
                          encode to the same output stops at once instead of doing the work twice

Tensors are stored as plain arrays (``np.savez``, read back with ``allow_pickle=False``); the
nesting of state dicts (dicts with int keys, tuples, scalars) is described in JSON. Every file is
written under a temporary name and renamed, so a kill leaves the previous state or the next one.
A checkpoint made with other settings or from other data is refused, never silently mixed in.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None

FORMAT = "tascodec-checkpoint-1"
LOCK = "lock"
_HELD: dict[str, list] = {}  # lock path -> [fd, users]: one flock per output and process


def fingerprint(config, ds, **facts) -> dict[str, Any]:
    """What a saved state must match to be resumed: the settings of the resolved ``config`` (an
    ``EncodeConfig``) marked ``fingerprint`` (those that shape the result, but the codes' storage
    type, which only the final quantisation uses), the ``facts`` the encode learned (the reused
    decoder's digest, the byte budget) and the identity of the dataset ``ds``."""
    return {**config.values("fingerprint"), **facts, "dataset": ds.name, "labels_sha256": ds.labels_hash(),
            "feature_dim": ds.feature_dim, "frames": ds.total_frames}


class Checkpoint:
    """The checkpoint folder of one output file.

    Args:
        out: the output ``.tasz`` path; the folder is ``out`` + ``.ckpt``.
        fingerprint: JSON-able settings and dataset identity; a saved state is used only if equal.
        resume: reuse a matching saved state (a different one is refused); ``False`` discards it.
        writer: whether this process writes shared state (rank 0); every rank writes its own chunks.
            The writer takes an exclusive lock on the folder first: while another process holds it,
            ``UsageError`` ("another encode is writing OUT (pid N)"). ``close()`` releases it.
    """

    def __init__(self, out: str | os.PathLike, fingerprint: dict[str, Any], *, resume: bool = True,
                 writer: bool = True):
        self.out = Path(out)
        self.folder = self.out.with_name(self.out.name + ".ckpt")
        self.fingerprint = json.loads(json.dumps(fingerprint))  # normalise tuples etc.
        self.writer = writer
        self.state: dict[str, Any] = {"format": FORMAT, "fingerprint": self.fingerprint, "epoch": 0,
                                      "train_file": None, "train_stats": None}
        self._lock = _acquire(self.folder, self.out) if writer else None
        try:
            if not resume:
                if writer:
                    self._clear()
                return
            saved = self._read_state()
            if saved is not None:
                self._check(saved)
                self.state = saved
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the lock (and remove the folder if nothing but the lock is left in it)."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            _release(lock)

    def __del__(self):
        self.close()

    # --- state.json ------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any] | None:
        path = self.folder / "state.json"
        if not path.exists():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: unreadable checkpoint ({e}); rerun with --no-resume to discard it") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise UsageError(f"{path}: not a tascodec checkpoint; rerun with --no-resume to discard it")
        return saved

    def _check(self, saved: dict[str, Any]) -> None:
        old, new = saved.get("fingerprint", {}), self.fingerprint
        if old == new:
            return
        diffs = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                 if old.get(k) != new.get(k)]
        raise UsageError(f"{self.folder}: checkpoint of a different encode ({'; '.join(diffs[:4])}); "
                         "rerun with --no-resume to discard it, or use another output name")

    def _write_state(self) -> None:
        _atomic_write(self.folder / "state.json", json.dumps(self.state, indent=1).encode())

    # --- training --------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Epochs of training already saved."""
        return int(self.state["epoch"])

    def save_training(self, epoch: int, model_state: dict, optimizer_state: dict,
                      stats: dict[str, Any] | None = None) -> None:
        """Save the state after ``epoch`` finished epochs (rank 0 only)."""
        if not self.writer:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"train-{epoch:06d}.npz"
        save_tree(self.folder / name, {"model": model_state, "optimizer": optimizer_state})
        old = self.state.get("train_file")
        self.state.update(epoch=int(epoch), train_file=name, train_stats=_jsonable(stats))
        self._write_state()
        if old and old != name:
            (self.folder / old).unlink(missing_ok=True)

    def load_training(self) -> dict[str, Any] | None:
        """``{"model", "optimizer"}`` state dicts saved last, or None when training has not been saved."""
        name = self.state.get("train_file")
        if not name:
            return None
        return load_tree(self.folder / name)

    # --- inversion chunks ------------------------------------------------------------------
    def _chunk_path(self, i: int) -> Path:
        return self.folder / f"chunk-{i:06d}.npz"

    def save_chunk(self, i: int, codes: np.ndarray, info: dict[str, Any], decoder_sha256: str) -> None:
        """Save finished chunk ``i`` (any rank), made with the decoder of the given digest."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.writer and not (self.folder / "state.json").exists():
            self._write_state()  # so that a later run with other settings is refused, not mixed
        save_tree(self._chunk_path(i), {"codes": np.asarray(codes, np.float32), "info": _jsonable(info),
                                        "decoder": decoder_sha256, "fingerprint": self.fingerprint})

    def load_chunk(self, i: int, rows: int, width: int,
                   decoder_sha256: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """Codes and info of chunk ``i`` if this same encode finished it with this decoder, else None."""
        path = self._chunk_path(i)
        if not path.exists():
            return None
        try:
            tree = load_tree(path)
        except (OSError, ValueError, KeyError):
            return None  # torn or foreign file: redo the chunk
        codes = tree["codes"]
        if (tree.get("fingerprint") != self.fingerprint or tree.get("decoder") != decoder_sha256
                or codes.shape != (rows, width)):
            return None
        return codes, tree["info"]

    def remove(self) -> None:
        """Delete the checkpoint (the encode is done) and release the lock."""
        self._clear()
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _clear(self) -> None:
        """Delete everything saved, keeping the lock file while we hold it."""
        if not self.folder.is_dir():
            return
        for p in self.folder.iterdir():
            if p.name == LOCK and self._lock is not None:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


# --- the lock --------------------------------------------------------------------------------
def _acquire(folder: Path, out: Path) -> str | None:
    """Hold an exclusive flock on ``folder/lock`` (made if needed), or say who holds it."""
    if fcntl is None:
        return None
    key = os.path.abspath(folder / LOCK)
    if key in _HELD:  # this process already owns the output (e.g. a second Checkpoint object)
        _HELD[key][1] += 1
        return key
    for _ in range(20):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:
            continue  # the owner removed the folder as we opened it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            owner = f" (pid {pid})" if pid.isdigit() else ""
            raise UsageError(f"another encode is writing {out}{owner}; wait for it to finish "
                             "or write another output") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(key))
        except FileNotFoundError:
            same = False
        if not same:  # the owner released and removed it between our open and our lock: again
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = [fd, 1]
        return key
    raise UsageError(f"{folder}: cannot take the checkpoint lock")


def _release(key: str) -> None:
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _HELD[key]
    with contextlib.suppress(OSError):
        os.unlink(key)  # while still locked, so nobody locks a file that is going away
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(key))  # only if nothing else is in it
    os.close(entry[0])


# --- (de)serialising nested state ------------------------------------------------------------
def save_tree(path: Path, tree: Any) -> None:
    """Write a nest of dicts/lists/tuples/scalars/arrays/tensors to one ``.npz`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    skeleton = _flatten(tree, arrays)
    arrays["__skeleton__"] = np.frombuffer(json.dumps(skeleton).encode(), np.uint8)
    with atomic_path(path, force=True) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_tree(path: Path) -> Any:
    """Read what ``save_tree`` wrote; torch tensors come back as CPU tensors of their dtype."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    skeleton = json.loads(arrays.pop("__skeleton__").tobytes().decode())
    return _unflatten(skeleton, arrays)


def _flatten(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[_flatten(k, arrays), _flatten(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, arrays) for v in obj]
    key = f"a{len(arrays)}"
    if isinstance(obj, np.ndarray):
        arrays[key] = obj
        return {"__array__": key}
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: stored widened, restored exactly
            t = t.float()
        arrays[key] = t.numpy()
        return {"__tensor__": key, "dtype": str(obj.dtype).removeprefix("torch.")}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def _unflatten(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__dict__" in obj:
        return {_unflatten(k, arrays): _unflatten(v, arrays) for k, v in obj["__dict__"]}
    if "__tuple__" in obj:
        return tuple(_unflatten(v, arrays) for v in obj["__tuple__"])
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__tensor__" in obj:
        import torch

        return torch.from_numpy(arrays[obj["__tensor__"]].copy()).to(getattr(torch, obj["dtype"]))
    raise ValueError("malformed checkpoint skeleton")


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_to_py)) if obj is not None else None


def _to_py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, force=True) as tmp:
        tmp.write_bytes(data)
