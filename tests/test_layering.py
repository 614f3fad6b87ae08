"""Layering one way: the container layer never imports the decoders, torch or click."""
from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys

import tascodec.container


def test_container_modules_import_no_decoder_torch_or_click():
    modules = sorted(f"tascodec.container.{m.name}" for m in pkgutil.iter_modules(tascodec.container.__path__))
    assert "tascodec.container.reader" in modules and "tascodec.container.normative" in modules
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', "
            "'tascodec.decode', 'click')))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def _imported(path) -> set[str]:
    """Every module an ``import`` anywhere in the file names (inside functions too), made absolute."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "tascodec." * (node.level == 2) + "tascodec.container." * (node.level == 1)
            mod = base + (node.module or "")
            names.update([mod] if node.module else [f"{base}{a.name}" for a in node.names])
    return names


def test_no_container_module_imports_upward_even_lazily():
    from pathlib import Path

    files = sorted(Path(tascodec.container.__path__[0]).glob("*.py"))
    assert len(files) > 5
    for f in files:
        bad = sorted(m for m in _imported(f) if m.split(".")[0] in ("torch", "click")
                     or m == "tascodec.decode" or m.startswith("tascodec.decode."))
        assert not bad, f"{f.name} imports {bad}"


def test_container_modules_import_each_other_without_a_circle():
    from graphlib import CycleError, TopologicalSorter
    from pathlib import Path

    files = sorted(Path(tascodec.container.__path__[0]).glob("*.py"))
    graph = {f"tascodec.container.{f.stem}": {m for m in _imported(f) if m.startswith("tascodec.container.")}
             for f in files if f.stem != "__init__"}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"import circle: {e.args[1]}") from None


def test_open_gives_the_decoding_container_and_the_reader_stays_below():
    from tascodec.container.reader import ContainerReader
    from tascodec.decode.container import Container

    import tascodec

    assert tascodec.Container is Container and issubclass(Container, ContainerReader)
    assert not hasattr(ContainerReader, "decode") and not hasattr(ContainerReader, "iter_decode")
