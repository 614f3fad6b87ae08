"""Packaging: ``pip install tascodec`` reads, verifies and decodes without torch; torch is the ``encode`` extra.

The declared dependencies are checked against what the code imports (nothing undeclared, nothing
declared for nothing), the README's install command installs what the demo and tests need, and
the verbs that need torch say how to get it in one line.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# import name -> distribution name, for the third-party packages the code may import
DISTRIBUTIONS = {"numpy": "numpy", "numcodecs": "numcodecs", "google_crc32c": "google-crc32c", "click": "click",
                 "rapidfuzz": "rapidfuzz", "tqdm": "tqdm", "torch": "torch", "matplotlib": "matplotlib"}


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()


def _extra(extra: str, seen: frozenset = frozenset()) -> set[str]:
    """Distributions an extra installs, following ``tascodec[...]`` self-references."""
    names = set()
    for req in PYPROJECT["project"]["optional-dependencies"][extra]:
        m = re.fullmatch(r"tascodec\[([a-z,]+)\]", req)
        if m:
            for e in m.group(1).split(","):
                if e not in seen:
                    names |= _extra(e, seen | {extra})
        else:
            names.add(_name(req))
    return names


def _third_party_imports() -> set[str]:
    found = set()
    for path in [*(ROOT / "tascodec").rglob("*.py"), *(ROOT / "cli").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"tascodec"}


def test_core_dependencies_exclude_torch():
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "torch" not in core
    assert "torch" in _extra("encode") and _extra("torch") == _extra("encode")
    assert "google-crc32c" in core and "msgpack" not in core


def test_declared_dependencies_match_the_imports():
    imports = _third_party_imports()
    assert imports <= set(DISTRIBUTIONS), f"imported but not known here: {imports - set(DISTRIBUTIONS)}"
    used = {DISTRIBUTIONS[i] for i in imports}
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = set().union(*(_extra(e) for e in PYPROJECT["project"]["optional-dependencies"]))
    assert used <= core | extras, f"imported but not declared: {used - core - extras}"
    assert core <= used, f"declared but never imported: {core - used}"


def test_readme_install_command_installs_the_encode_and_test_extras():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- command:install-demo -->\n```bash\n(.*?)\n```", text, flags=re.S)
    assert block, "README.md lost its install-demo command"
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', block.group(1))
    assert extras and {"encode", "test"} <= set(extras.group(1).split(","))
    assert "torch" in _extra("test")  # the test suite runs the encoder


def test_python_m_tascodec_cli_runs(tmp_path):  # from the installed package, not the checkout's cwd
    out = subprocess.run([sys.executable, "-m", "tascodec.cli", "--version"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tasz, version ")


NO_TORCH = "import sys; sys.modules['torch'] = None\n"


@pytest.mark.parametrize("argv", [["encode", "{tmp}", "-o", "{tmp}/o.tasz"], ["eval", "{tmp}"],
                                  ["demo", "--out", "{tmp}/demo"]], ids=lambda a: a[0])
def test_torch_verbs_say_how_to_install_torch(tmp_path, argv):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code = NO_TORCH + f"from tascodec.cli.main import main\nmain({argv!r})\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == f"tasz {argv[0]} needs PyTorch: pip install 'tascodec[encode]'"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing started


def test_reading_verbs_and_help_work_without_torch(tmp_path):
    vector = ROOT / "spec" / "vectors" / "mlp-int8.tasz"
    code = NO_TORCH + ("from tascodec.cli.main import main\nimport sys\n"
                       "for argv in (['verify', sys.argv[1]], ['info', sys.argv[1]], ['encode', '--help']):\n"
                       "    try:\n        main(argv)\n    except SystemExit as e:\n        assert not e.code, argv\n")
    out = subprocess.run([sys.executable, "-c", code, str(vector)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Usage: tasz encode" in out.stdout


def test_root_encode_without_torch_names_the_extra(tmp_path):
    code = NO_TORCH + ("import tascodec\ntry:\n    tascodec.encode('d', 'o.tasz')\n"
                       "except ModuleNotFoundError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "tascodec.encode needs PyTorch: pip install 'tascodec[encode]'"
