"""Atomic outputs: every file and folder tascodec writes goes through the two helpers here.

One rule for all of them:

* ``atomic_path(path)`` (a file): yields a temporary ``.NAME.XXXXXXXX.tmp`` beside ``path``; on success
  it is renamed onto ``path``. An existing file is replaced only with ``force``.
* An ``OSError`` while writing (disk full, file too large, no permission) becomes one
  ``OutputWriteError`` naming the output; the previous output is untouched.
* Missing folders above an output are created (as ``mkdir -p``) and removed again if the write
  fails; files and folders get the permissions of the user's umask (not mkstemp/mkdtemp's 0600/0700).
* ``atomic_dir(path, kind)`` (a folder): yields a temporary folder ``.NAME.XXXXXXXX.tmp/`` beside
  ``path``, marked with a manifest ``.tasz-output.json`` (tool, kind of output, its files); on
  success it takes the place of ``path``. An existing folder is used if it is empty, and replaced
  (with ``force``) only if tascodec wrote it: its manifest is ours and names every file in it.
  Anything else is refused, even with ``force``: tascodec never deletes what it did not write.
  ``-o .`` (the current folder, which cannot be renamed) is replaced entry by entry instead.

A crash, a kill or an exception never leaves a half-written output at ``path``.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError, OutputWriteError, UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, so stale temporaries are left alone
    fcntl = None

MANIFEST = ".tasz-output.json"
TOOL = "tascodec"


# --- files -------------------------------------------------------------------------------------
def check_writable(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``, and a path below a file (missing folders are made)."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p}: already exists")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory, expected a file path")
    _check_ancestors(p)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    p = check_writable(path, force)
    made, fd, tmp_p, done = [], None, None, False
    try:
        made = make_parents(p)
        remove_stale(p, folder=False)
        fd, tmp_p = _locked_temp(p, folder=False)
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; give the file the usual permissions
        yield tmp_p
        os.fsync(fd)
        if p.exists() and not force:  # appeared while we were writing
            raise OutputExistsError(f"{p}: already exists")
        os.replace(tmp_p, p)
        done = True
    except OSError as e:
        raise write_error(p, e, tmp_p) from None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp_p is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp_p.unlink()
        if not done:
            remove_made(made)


def write_error(out: str | os.PathLike, e: OSError, temp: Path | None = None) -> OSError:
    """``e`` as an ``OutputWriteError`` naming ``out`` if it is about writing ``out``, else ``e`` itself.

    About ``out``: no file name (``write()`` on a full disk), or ``out``, a folder above it, its
    temporary ``temp`` or a file inside that (the output's own parts).
    """
    target = os.path.abspath(out)
    names = [n for n in (e.filename, e.filename2) if n is not None]
    if not names:
        return OutputWriteError(out, e)
    for n in names:
        f = os.path.abspath(os.fsdecode(n))
        if temp is not None and (f == str(temp) or f.startswith(str(temp) + os.sep)):
            inner = os.path.relpath(f, temp)
            return OutputWriteError(out, e, None if inner == "." else inner)
        if f == target or f.startswith(target + os.sep) or target.startswith(f.rstrip(os.sep) + os.sep):
            return OutputWriteError(out, e)
        if (os.path.dirname(f) == os.path.dirname(target)
                and os.path.basename(f).startswith(f".{os.path.basename(target)}.")):
            return OutputWriteError(out, e)  # its temporary, before we knew its name
    return e


def _locked_temp(p: Path, folder: bool) -> tuple[int, Path]:
    """Make ``.NAME.XXXXXXXX.tmp`` beside ``p`` and hold an flock on it while we write (a live writer).

    Returns ``(fd, path)``; closing ``fd`` releases the lock. The lock is what tells a later run's
    ``remove_stale`` that the temporary is not stale: a killed process holds no lock.
    """
    target = Path(os.path.abspath(p))
    for _ in range(100):
        if folder:
            tmp = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.lstat(tmp)):
                return fd, Path(tmp)
        except FileNotFoundError:
            pass
        os.close(fd)  # a cleanup took it between its creation and our lock: make another
    raise OSError(errno.EEXIST, "cannot create a temporary", str(p))


def remove_stale(p: str | os.PathLike, folder: bool) -> list[Path]:
    """Remove the temporaries of output ``p`` that a killed run left; returns what was removed.

    Only entries named exactly as ours (``.NAME.XXXXXXXX.tmp`` beside ``p``) that no live writer
    holds locked: for a file output, regular files; for a folder output, folders that carry our
    marker (or are empty). Anything else is left alone.
    """
    if fcntl is None:
        return []
    target = Path(os.path.abspath(p))
    rx = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    try:
        names = [n for n in os.listdir(target.parent) if rx.fullmatch(n)]
    except OSError:
        return []
    removed = []
    for n in names:
        cand = target.parent / n
        try:
            mode = os.lstat(cand).st_mode
            if stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode):
                flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if folder else 0)
                fd = os.open(cand, flags)
                try:
                    if _remove_if_stale(fd, cand, folder):
                        removed.append(cand)
                finally:
                    os.close(fd)
        except OSError:
            continue  # gone meanwhile, or not ours to touch
    return removed


def _remove_if_stale(fd: int, cand: Path, folder: bool) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live writer
    if not os.path.samestat(os.fstat(fd), os.lstat(cand)):
        return False
    if not folder:
        cand.unlink()
        return True
    if not os.listdir(cand):
        cand.rmdir()  # killed before its marker was written
        return True
    if _read_manifest(cand).get("tool") != TOOL:
        return False
    shutil.rmtree(cand)
    return True


def umask() -> int:
    """The process's umask: read from /proc where it can be (setting it, even for a moment, races
    with other threads creating files), else set and restored."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


# --- folders -----------------------------------------------------------------------------------
def check_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse a folder output that may not be written: see the module notes. Returns ``path``."""
    p = Path(path)
    if p.is_symlink():
        raise UsageError(f"{p}: is a symbolic link; give the folder itself")
    if not p.exists():
        _check_ancestors(p)
        return p
    if not p.is_dir():
        raise UsageError(f"{p}: exists and is not a folder")
    if not os.listdir(p):
        return p
    why = _not_ours(p)
    if why:
        raise UsageError(f"{p}: exists and was not written by tascodec ({why}); refusing to replace it, "
                         "even when forced: choose another folder or empty it")
    if not force:
        raise OutputExistsError(f"{p}: already exists")
    return p


def _check_ancestors(p: Path) -> None:
    """Refuse a path below a file (missing folders are created, as ``mkdir -p`` does)."""
    for a in Path(os.path.abspath(p)).parents:
        if a.exists():
            if not a.is_dir():
                raise UsageError(f"{p}: {a} is not a folder")
            return


def make_parents(p: Path) -> list[Path]:
    """Create the missing folders above ``p`` (with the umask, as ``mkdir -p``); returns them, top first."""
    missing = []
    for a in Path(os.path.abspath(p)).parents:
        if a.exists():
            break
        missing.append(a)
    for a in reversed(missing):
        a.mkdir(exist_ok=True)
    return missing[::-1]


def remove_made(folders: list[Path]) -> None:
    """Remove the folders ``make_parents`` made, deepest first, if they are still empty."""
    for a in reversed(folders):
        with contextlib.suppress(OSError):
            a.rmdir()


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind of output tascodec wrote at ``path`` (its manifest's), or None if not ours."""
    p = Path(path)
    if p.is_symlink() or not p.is_dir() or _not_ours(p):
        return None
    return _read_manifest(p).get("kind")


class AtomicDir:
    """A folder output being built: ``path`` is the temporary folder to fill, ``commit()`` installs it.

    ``discard()`` (always call it, e.g. in ``finally``) removes what was not committed. ``atomic_dir``
    is the usual way to use it; this class serves code that already has its own ``try``/``finally``.
    """

    def __init__(self, path: str | os.PathLike, kind: str, force: bool = False):
        self.out, self.kind, self.force = check_dir(path, force), kind, force
        self.target = Path(os.path.abspath(self.out))
        self._made, self._done, self.path, self._fd = [], False, None, None
        try:
            self._made = make_parents(self.target)
            remove_stale(self.target, folder=True)
            self._fd, self.path = _locked_temp(self.target, folder=True)
            _write_manifest(self.path, {"tool": TOOL, "kind": kind, "state": "building"})
        except BaseException as e:
            self.discard()
            if isinstance(e, OSError):
                raise self.error(e) from None
            raise

    def error(self, e: OSError) -> OSError:
        """``e`` as an ``OutputWriteError`` naming the output, if it is about writing it (``write_error``)."""
        return write_error(self.out, e, self.path)

    def commit(self) -> Path:
        """Install the finished folder at the output path (checked again first); returns that path."""
        try:
            _write_manifest(self.path, {"tool": TOOL, "kind": self.kind, "files": _entries(self.path)})
            os.chmod(self.path, 0o777 & ~umask())  # mkdtemp makes 0700
            check_dir(self.out, self.force)  # it may have changed while we were writing
            _install(self.path, self.target)
        except OSError as e:
            raise self.error(e) from None
        self._done = True
        return self.out

    def discard(self) -> None:
        """Remove the temporary folder (after ``commit`` it holds at most the replaced output)."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        if not self._done:
            remove_made(self._made)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: str, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path``.

    ``kind`` names the output in the manifest (``restored-dataset``, ``split``, ...). On any
    exception the temporary folder is removed and ``path`` is untouched.
    """
    d = AtomicDir(path, kind, force)
    try:
        yield d.path
        d.commit()
    except OSError as e:
        raise d.error(e) from None
    finally:
        d.discard()


def _install(tmp: Path, target: Path) -> None:
    """Put the finished ``tmp`` in the place of ``target`` (missing, empty, or ours and checked)."""
    if _holds_cwd(target):
        _install_in_place(tmp, target)
    elif not target.exists():
        try:
            os.rename(tmp, target)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise OutputExistsError(f"{target}: appeared while writing") from None
            raise
    elif not _exchange(tmp, target):  # atomic swap where the OS can; tmp then holds the old output
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))  # our pattern
        os.replace(target, aside)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)


def _install_in_place(tmp: Path, target: Path) -> None:
    """Replace the content of ``target`` (the current folder, which cannot be renamed) entry by entry.

    Its manifest names the old and the new files until the end, so a kill on the way leaves a
    folder that is still recognisably ours (and ``-f`` replaces it).
    """
    old = _read_manifest(target).get("files", []) if (target / MANIFEST).is_file() else []
    new = _read_manifest(tmp)
    _write_manifest(target, {**new, "files": sorted(set(old) | set(new["files"]))})
    for rel in sorted(old, key=lambda r: (-r.count("/"), r)):  # files, then folders deepest first
        p = target / rel.rstrip("/")
        with contextlib.suppress(FileNotFoundError, OSError):
            p.rmdir() if rel.endswith("/") else p.unlink()
    for entry in sorted(tmp.iterdir()):
        if entry.name != MANIFEST:
            os.replace(entry, target / entry.name)
    os.replace(tmp / MANIFEST, target / MANIFEST)


def _holds_cwd(target: Path) -> bool:
    cwd, t = os.path.realpath(os.getcwd()), os.path.realpath(target)
    return cwd == t or cwd.startswith(t.rstrip(os.sep) + os.sep)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


# --- the manifest ------------------------------------------------------------------------------
def _entries(root: Path) -> list[str]:
    """Every entry under ``root`` but the manifest, as relative POSIX paths (folders end in ``/``)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for d in dirnames:
            full = Path(dirpath) / d
            out.append((rel / d).as_posix() + ("" if full.is_symlink() else "/"))
        out.extend((rel / f).as_posix() for f in filenames)
    return sorted(e for e in out if e != MANIFEST)


def _write_manifest(folder: Path, doc: dict) -> None:
    from . import __version__

    text = json.dumps({"tool": doc["tool"], "version": __version__, **doc}, indent=1) + "\n"
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def _read_manifest(folder: Path) -> dict:
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _not_ours(folder: Path) -> str | None:
    """None if tascodec wrote the non-empty ``folder`` (manifest names every entry), else why not."""
    m = folder / MANIFEST
    if m.is_symlink() or not m.is_file():
        return f"it has no {MANIFEST}"
    doc = _read_manifest(folder)
    files = doc.get("files")
    if doc.get("tool") != TOOL or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return f"its {MANIFEST} is not tascodec's"
    listed = set(files)
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        for d in sorted(dirnames):
            e = (rel / d).as_posix()
            if not ({e + "/", e} & listed):
                return f"{e}/ is not one of its files"
        for f in sorted(filenames):
            e = (rel / f).as_posix()
            if e not in (MANIFEST, f".{MANIFEST}.tmp") and e not in listed:
                return f"{e} is not one of its files"
    return None
