"""Output safety: one rule for every file and folder tascodec writes (tascodec._io).

Folder outputs (``decode -o``, ``split``, ``synth``, ``demo``) share one matrix of cases below.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tascodec.cli.main import cli
from helpers import write_test_container


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- decode --video -o NAME: the .npy suffix is appended as np.save does (issue 17) -------------
def test_decode_video_appends_npy_suffix_like_np_save(tmp_path):
    src = write_test_container(tmp_path / "x.tasz")
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out2")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out2.npy").is_file() and not (tmp_path / "out2").exists()
    assert "out2.npy" in r.output
    np.load(tmp_path / "out2.npy")
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out3.txt")  # np.save("out3.txt") -> out3.txt.npy
    assert r.exit_code == 0 and (tmp_path / "out3.txt.npy").is_file()
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "out2")  # the same file: needs -f
    assert r.exit_code == 1 and "out2.npy: already exists" in r.output


# --- the folder matrix: decode -o, split, synth, demo --------------------------------------------
MANIFEST = ".tasz-output.json"


class Folder:
    """One folder-writing command: how to run it into ``out`` and what kind of output it makes."""

    def __init__(self, name, kind, argv, rerun_needs_force=True):
        self.name, self.kind, self._argv, self.rerun_needs_force = name, kind, argv, rerun_needs_force

    def run(self, src, out, *extra):
        return CliRunner().invoke(cli, [str(a) for a in self._argv(src, out)] + list(extra))


FOLDERS = [
    Folder("decode", "restored-dataset", lambda src, out: ["decode", src / "x.tasz", "-o", out]),
    Folder("split", "split", lambda src, out: ["split", src / "x.tasz", "-o", out]),
    Folder("synth", "synthetic-dataset",
           lambda src, out: ["synth", out, "--videos", "4", "--dim", "8", "--length-scale", "0.05"]),
    # the demo's stages are replaced by a tiny one (tests/test_demo.py runs the real ones); a rerun
    # may replace the demo's own folder without --force
    Folder("demo", "demo", lambda src, out: ["demo", "--quick", "-q", "--out", out], rerun_needs_force=False),
]


def _fake_demo_stages(work, **kw):
    (work / "gtea.tasz").write_bytes(b"container")
    (work / "sub").mkdir()
    (work / "sub" / "f.txt").write_text("x")
    return {}


@pytest.fixture(params=FOLDERS, ids=lambda f: f.name)
def cmd(request, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    write_test_container(src / "x.tasz", split=2, activities=["p", "q", "p"])
    if request.param.name == "demo":
        import tascodec.demo

        monkeypatch.setattr(tascodec.demo, "_stages", _fake_demo_stages)
    request.param.src = src
    return request.param


@pytest.fixture()
def root(tmp_path):
    r = tmp_path / "w"
    r.mkdir()
    return r


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else b"/")
            for p in sorted(path.rglob("*"))}


def one_error_line(r) -> str:
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tasz: error:"), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def test_new_folder_carries_a_manifest_of_its_files(cmd, root):
    out = root / "out"
    r = cmd.run(cmd.src, out)
    assert r.exit_code == 0, r.output
    m = json.loads((out / MANIFEST).read_text())
    assert m["tool"] == "tascodec" and m["kind"] == cmd.kind
    entries = {str(p.relative_to(out)) + ("/" if p.is_dir() else "") for p in out.rglob("*")}
    assert set(m["files"]) == entries - {MANIFEST}
    assert [p.name for p in root.iterdir()] == ["out"]  # no temporaries beside it


def test_rerun_needs_force_and_replaces_only_our_folder(cmd, root):
    out = root / "out"
    assert cmd.run(cmd.src, out).exit_code == 0
    (out / MANIFEST).write_text((out / MANIFEST).read_text())  # untouched bytes, fresh mtime
    before = snapshot(out)
    r = cmd.run(cmd.src, out)
    if cmd.rerun_needs_force:
        assert "already exists" in one_error_line(r) and "--force" in r.stderr
        assert snapshot(out) == before
    else:
        assert r.exit_code == 0, r.output
    r = cmd.run(cmd.src, out, "-f")
    assert r.exit_code == 0, r.output
    assert sorted(snapshot(out)) == sorted(before)
    assert [p.name for p in root.iterdir()] == ["out"]  # nothing moved aside and left


def test_empty_folder_is_used(cmd, root):
    (root / "out").mkdir()
    r = cmd.run(cmd.src, root / "out")
    assert r.exit_code == 0, r.output
    assert (root / "out" / MANIFEST).is_file()


@pytest.mark.parametrize("force", [False, True])
def test_foreign_folder_is_never_replaced(cmd, root, force):
    out = root / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    (out / "features").mkdir()  # looks like a dataset: still not ours
    before = snapshot(root)
    line = one_error_line(cmd.run(cmd.src, out, *(["-f"] if force else [])))
    assert "not written by tascodec" in line and str(out) in line
    assert snapshot(root) == before


def test_our_folder_with_a_file_of_the_user_is_not_replaced(cmd, root):
    out = root / "out"
    assert cmd.run(cmd.src, out).exit_code == 0
    sub = next(p for p in out.iterdir() if p.is_dir()) if any(p.is_dir() for p in out.iterdir()) else out
    (sub / "my-notes.txt").write_text("mine")
    before = snapshot(root)
    line = one_error_line(cmd.run(cmd.src, out, "-f"))
    assert "my-notes.txt" in line and "not written by tascodec" in line
    assert snapshot(root) == before


def test_a_file_at_the_path_is_refused(cmd, root):
    (root / "out").write_text("a file")
    r = cmd.run(cmd.src, root / "out", "-f")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "not a folder" in r.output or "is a file" in r.output  # synth: click's own check (exit 2)
    assert (root / "out").read_text() == "a file" and [p.name for p in root.iterdir()] == ["out"]


def test_output_dot_in_place(cmd, root, monkeypatch):
    out = root / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    r = cmd.run(cmd.src, Path("."))
    assert r.exit_code == 0, r.output
    first = snapshot(out)
    assert MANIFEST in first
    r = cmd.run(cmd.src, Path("."), "-f")  # replaces the current folder's content: no EBUSY, no ..xxxx.old
    assert r.exit_code == 0, r.output
    assert sorted(snapshot(out)) == sorted(first)
    assert [p.name for p in root.iterdir()] == ["out"]
    (out / "mine.txt").write_text("mine")
    assert "not written by tascodec" in one_error_line(cmd.run(cmd.src, Path("."), "-f"))
    assert (out / "mine.txt").read_text() == "mine"


def test_a_symlink_is_refused(cmd, root):
    (root / "real").mkdir()
    (root / "link").symlink_to(root / "real")
    assert "symbolic link" in one_error_line(cmd.run(cmd.src, root / "link", "-f"))
    assert list((root / "real").iterdir()) == []


# --- stale temporaries of a killed run are removed by the next one (and nothing else is) ---------
def _locked(path: Path):
    """Hold an flock on ``path`` as a live writer does (released when the returned fd is closed)."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_stale_temporary_folders_of_our_output_are_removed(cmd, root):
    marker = json.dumps({"tool": "tascodec", "kind": cmd.kind, "state": "building"})
    stale = root / ".out.k2j4x9_a.tmp"  # what a SIGKILL leaves: our name pattern, our marker
    stale.mkdir()
    (stale / MANIFEST).write_text(marker)
    (stale / "features").mkdir()
    (stale / "features" / "half.npy").write_bytes(b"\0" * 10)
    (root / ".out.00000000.tmp").mkdir()  # killed before its marker was written: empty
    keep = {".out.zzzzzzzz.tmp": None,  # our name, but no marker and a file of someone
            ".out.abc.tmp": marker,  # not our name pattern
            ".other.abcdefgh.tmp": marker,  # another output's
            ".out.live0000.tmp": marker}  # a run still writing (holds its lock)
    for name, m in keep.items():
        (root / name).mkdir()
        (root / name / (MANIFEST if m else "notes.txt")).write_text(m or "mine")
    fd = _locked(root / ".out.live0000.tmp")
    try:
        r = cmd.run(cmd.src, root / "out")
    finally:
        os.close(fd)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in root.iterdir()) == sorted(["out", *keep])


def test_stale_temporary_files_of_our_output_are_removed(tmp_path):
    src = write_test_container(tmp_path / "x.tasz")
    out = tmp_path / "w"
    out.mkdir()
    (out / ".a.npy.x1y2z3w4.tmp").write_bytes(b"half")  # what a SIGKILL leaves
    keep = [".a.npy.abc.tmp", ".b.npy.x1y2z3w4.tmp", ".a.npy.live0000.tmp", "a.npy.x1y2z3w4.tmp"]
    for name in keep:
        (out / name).write_bytes(b"not a stale temporary of a.npy")
    (out / ".a.npy.dir00000.tmp").mkdir()  # a folder is never a file's temporary
    fd = _locked(out / ".a.npy.live0000.tmp")
    try:
        r = invoke("decode", src, "--video", "a", "-o", out / "a.npy")
    finally:
        os.close(fd)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.npy", ".a.npy.dir00000.tmp", *keep])


KILLED = """
import os, sys
from tascodec._io import atomic_dir, atomic_path
if sys.argv[1] == "file":
    with atomic_path(sys.argv[2]) as t:
        t.write_bytes(b"half")
        os.kill(os.getpid(), 9)
with atomic_dir(sys.argv[2], "restored-dataset") as t:
    (t / "features").mkdir()
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_sigkill_leaves_temporaries_that_the_next_run_removes(tmp_path, what):
    src = write_test_container(tmp_path / "x.tasz")
    out = tmp_path / "w" / ("a.npy" if what == "file" else "restored")
    out.parent.mkdir()
    p = subprocess.run([sys.executable, "-c", KILLED, what, str(out)], capture_output=True)
    assert p.returncode == -signal.SIGKILL
    left = [q.name for q in out.parent.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".{out.name}.") and left[0].endswith(".tmp")
    args = ["--video", "a", "-o", out] if what == "file" else ["-o", out]
    r = invoke("decode", src, *args)
    assert r.exit_code == 0, r.output
    assert [q.name for q in out.parent.iterdir()] == [out.name]


# --- missing parents are created (mkdir -p); everything gets the user's umask (issue 16) ---------
@pytest.fixture()
def umask027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def modes(root: Path) -> set[tuple[str, int]]:
    return {("d" if p.is_dir() else "f", p.stat().st_mode & 0o777) for p in [root, *root.rglob("*")]}


def test_folder_outputs_create_parents_with_the_umask(cmd, root, umask027):
    out = root / "a" / "b" / "out"
    r = cmd.run(cmd.src, out)
    assert r.exit_code == 0, r.output
    assert modes(root / "a") <= {("d", 0o750), ("f", 0o640)}
    assert ("f", 0o640) in modes(out)


def test_file_outputs_create_parents_with_the_umask(tmp_path, umask027):
    src = write_test_container(tmp_path / "x.tasz")
    r = invoke("decode", src, "--video", "a", "-o", tmp_path / "a" / "b" / "v.npy")
    assert r.exit_code == 0, r.output
    r = invoke("subset", src, "--count", "2", "-o", tmp_path / "c" / "d" / "s.tasz")
    assert r.exit_code == 0, r.output
    for top in ("a", "c"):
        assert modes(tmp_path / top) == {("d", 0o750), ("f", 0o640)}


def test_parents_made_for_a_failed_write_are_removed(tmp_path, monkeypatch):
    from tascodec.decode import export

    src = write_test_container(tmp_path / "x.tasz")

    def failing(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(export, "write_features", failing)
    for args in (["--video", "a", "-o", tmp_path / "a" / "b" / "v.npy"], ["-o", tmp_path / "c" / "d" / "out"]):
        with pytest.raises(RuntimeError):
            CliRunner().invoke(cli, ["decode", str(src), *map(str, args)], catch_exceptions=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tasz"]


@pytest.mark.parametrize("args", [["--video", "a", "-o", "{f}/v.npy"], ["-o", "{f}/sub/out"]])
def test_a_path_below_a_file_is_refused(tmp_path, args):
    src = write_test_container(tmp_path / "x.tasz")
    (tmp_path / "f").write_text("a file")
    r = invoke("decode", src, *[a.format(f=tmp_path / "f") for a in args])
    assert "is not a folder" in one_error_line(r)
    assert (tmp_path / "f").read_text() == "a file"


# --- a full disk or a file-size limit: one line naming the output, previous output untouched ----
def _no_space(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises, without a file name


def _enospc_demo_stages(work, **kw):
    (work / "gtea.tasz").write_bytes(b"half")
    _no_space()


ENOSPC_AT = {  # the write each command does into its output, made to fail
    "decode": ("tascodec.decode.export.write_features", _no_space),
    "split": ("tascodec.container.zipio.ZipWriter.add", _no_space),
    "synth": ("tascodec.data.synthetic._write_text", _no_space),
    "demo": ("tascodec.demo._stages", _enospc_demo_stages),
}


def test_a_full_disk_is_one_line_and_keeps_the_previous_folder(cmd, root, monkeypatch):
    out = root / "out"
    assert cmd.run(cmd.src, out).exit_code == 0
    before = snapshot(root)
    monkeypatch.setattr(*ENOSPC_AT[cmd.name])
    line = one_error_line(cmd.run(cmd.src, out, "-f"))
    assert f"{out}: cannot write" in line and "No space left on device" in line
    assert snapshot(root) == before


@pytest.mark.parametrize("verb", ["merge", "subset", "decode"])
def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch, verb):
    src = write_test_container(tmp_path / "x.tasz")
    out = tmp_path / ("v.npy" if verb == "decode" else "o.tasz")
    out.write_bytes(b"previous")
    where = "tascodec.decode.export.write_features" if verb == "decode" else "tascodec.container.zipio.ZipWriter.add"
    monkeypatch.setattr(where, _no_space)
    args = {"merge": ["merge", src, "-o", out, "-f"], "subset": ["subset", src, "--count", "2", "-o", out, "-f"],
            "decode": ["decode", src, "--video", "a", "-o", out, "-f"]}[verb]
    line = one_error_line(invoke(*args))
    assert f"{out}: cannot write" in line and "No space left on device" in line
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "x.tasz"])


LIMITED = """
import resource, signal, sys
from tascodec.cli.main import main
limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a host may leave it: tasz must ignore it itself
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
main(sys.argv[2:])
"""


@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_file_size_limit_is_one_line_and_keeps_the_previous_output(tmp_path, what):
    src = write_test_container(tmp_path / "x.tasz")
    out = tmp_path / ("restored" if what == "folder" else "v.npy")
    args = ["decode", str(src), "-o", str(out)] + (["--video", "c"] if what == "file" else [])
    assert invoke(*args).exit_code == 0
    before = snapshot(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.run([sys.executable, "-c", LIMITED, "2048", *args, "-f"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 1, (p.returncode, p.stderr)  # not killed by SIGXFSZ, no traceback
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tasz: error: {out}: cannot write"), p.stderr
    assert "File too large" in lines[0]
    assert snapshot(tmp_path) == before


# --- two encodes to one output: the second stops at once (issue 11) ------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tascodec.data.synthetic import synthesize

    return synthesize(tmp_path_factory.mktemp("ds") / "tiny", like="gtea", videos=4, dim=8, length_scale=0.05)


def test_a_held_checkpoint_lock_stops_a_second_encode_at_once(dataset, tmp_path, monkeypatch):
    from tascodec.encoding import pipeline
    from tascodec.errors import UsageError

    out = tmp_path / "o.tasz"
    ckpt = tmp_path / "o.tasz.ckpt"
    ckpt.mkdir()
    (ckpt / "state.json").write_text("{}")  # the other encode's state: never touched
    fd = os.open(ckpt / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")

    def no_work(*a, **k):
        raise AssertionError("the second encode did work before checking the lock")

    monkeypatch.setattr(pipeline, "feature_stats", no_work)
    monkeypatch.setattr(pipeline.FrameStore, "__init__", no_work)
    try:
        with pytest.raises(UsageError, match=r"another encode is writing .*o\.tasz \(pid 4242\)"):
            pipeline.encode(dataset, out, method="mean", progress=False)
        with pytest.raises(UsageError, match="another encode"):
            pipeline.encode(dataset, out, method="mean", progress=False, resume=False)  # never discards it
    finally:
        os.close(fd)
    assert sorted(p.name for p in ckpt.iterdir()) == ["lock", "state.json"]
    assert (ckpt / "state.json").read_text() == "{}" and not out.exists()


HOLDER = """
import sys, time
from tascodec.encoding.checkpoint import Checkpoint
ck = Checkpoint(sys.argv[1], {"K": 8})
print("ready", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_told_which_encode_owns_the_output(dataset, tmp_path):
    out = tmp_path / "o.tasz"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = invoke("encode", dataset, "-o", out, "--method", "mean")
        assert r.exit_code == 1 and "Traceback" not in r.output
        line = r.stderr.strip().splitlines()[-1]  # (encode may first say which dataset it recognised)
        assert line.startswith("tasz: error:") and f"another encode is writing {out} (pid {holder.pid})" in line
    finally:
        holder.kill()
        holder.wait()
    r = invoke("encode", dataset, "-o", out, "--method", "mean")  # the lock died with its process
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tasz"]  # checkpoint folder and lock gone


def test_the_lock_is_released_when_an_encode_fails(dataset, tmp_path, monkeypatch):
    from tascodec.encoding import pipeline

    out = tmp_path / "a" / "o.tasz"  # parents are made for the checkpoint too
    real = pipeline._Job.run

    def failing(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline._Job, "run", failing)
    with pytest.raises(RuntimeError):
        pipeline.encode(dataset, out, method="mean", progress=False)
    assert not (tmp_path / "a" / "o.tasz.ckpt").exists()  # nothing of it was left
    probe = subprocess.run([sys.executable, "-c", HOLDER.replace("time.sleep(60)", ""), str(out)],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr  # another process can take the lock
    monkeypatch.setattr(pipeline._Job, "run", real)
    pipeline.encode(dataset, out, method="mean", progress=False)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["o.tasz"]


def test_replace_without_rename_exchange(cmd, root, monkeypatch):
    """Where the OS has no atomic swap, the old folder is moved aside, then removed."""
    import tascodec._io

    monkeypatch.setattr(tascodec._io, "_exchange", lambda a, b: False)
    out = root / "out"
    assert cmd.run(cmd.src, out).exit_code == 0
    names = sorted(snapshot(out))
    r = cmd.run(cmd.src, out, "-f")
    assert r.exit_code == 0, r.output
    assert sorted(snapshot(out)) == names and [p.name for p in root.iterdir()] == ["out"]
