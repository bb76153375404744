"""`pip install .` into an empty venv: the product alone, no HTTP library, no testing kit.

The sidecar speaks HTTP/1.1 itself (sidecar/providers/http1.py), so its runtime dependencies
are trio and msgspec: no httpx, httpcore or h11. The scripted Ollama, the harness and the demo
are the testing kit's (testkit/), never in the product's wheel. The wheel is built from a copy
of the sources (so the checkout gets no build/ or egg-info), installed into a fresh venv from
the configured package index, and run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from ..support import REPO_ROOT

PIP_GUARD_S = 600.0  # against a hung install, not a speed target
NOT_INSTALLED = {"h11", "httpx", "httpcore", "ollama-sidecar-testkit"}


def _pip(python: Path | str, *args: str) -> str:
    completed = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True, text=True, timeout=PIP_GUARD_S, stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_pip_install_brings_no_http_library_and_no_fake_server(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "sidecar", source / "sidecar",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    _pip(sys.executable, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source))
    [wheel] = wheels.glob("ollama_sidecar-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("sidecar/", "ollama_sidecar-")) for n in names), names
    assert not [n for n in names if "fake_ollama" in n or "testkit" in n or "harness" in n]
    assert "sidecar/providers/http1.py" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    scripts = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = scripts / "python"
    _pip(python, "install", "--quiet", str(wheel))
    installed = {d["name"].lower() for d in json.loads(_pip(python, "list", "--format=json"))}
    assert "ollama-sidecar" in installed and {"trio", "msgspec"} <= installed
    assert not installed & NOT_INSTALLED, sorted(installed)

    version = subprocess.run(
        [str(scripts / "ollama-sidecar"), "--version"],
        capture_output=True, text=True, timeout=PIP_GUARD_S,
    )
    assert version.returncode == 0 and version.stdout.startswith("ollama-sidecar "), version
    # Every module of the product imports in that venv, the HTTP clients included.
    imported = subprocess.run(
        [str(python), "-c", "import pkgutil, importlib, sidecar\n"
         "for m in pkgutil.walk_packages(sidecar.__path__, 'sidecar.'):\n"
         "    importlib.import_module(m.name)\n"
         "import sys; print(sorted(n for n in sys.modules if n.split('.')[0] in "
         "('h11', 'httpx', 'httpcore', 'sidecar_testkit')))"],
        capture_output=True, text=True, timeout=PIP_GUARD_S, cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"
