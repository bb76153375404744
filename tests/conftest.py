"""Fixtures shared by every level: the scripted Ollama on loopback, a project folder for the
tools, and a subreaper for tests whose processes leave orphans. Each level's own fixtures are in
its conftest.py (process/: the end-to-end variants; testkit/: an HTTP client of the scripted
Ollama); helpers that are not fixtures are in support.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sidecar_testkit.fake_ollama import ScriptedOllama, open_scripted_ollama

from .support import child_subreaper


@pytest.fixture(autouse=True, scope="session")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every sidecar a test starts without --data-dir keeps its conversations in a temporary
    XDG_DATA_HOME, never in the user's data folder."""
    folder = tmp_path_factory.mktemp("xdg-data-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(folder))
    try:
        yield folder
    finally:
        patch.undo()


@pytest.fixture
async def fake_ollama() -> AsyncIterator[ScriptedOllama]:
    """The scripted Ollama on a free loopback port, with its request records."""
    async with open_scripted_ollama() as fake:
        yield fake


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty project folder (`--root`), with room beside it for what must stay outside."""
    project = tmp_path / "project"
    project.mkdir()
    return project.resolve()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Orphans of this test's processes are re-parented to the test process (support.py)."""
    with child_subreaper():
        yield
