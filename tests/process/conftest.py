"""The ways the end-to-end tests run: every test in a `test_e2e_*` module that uses
`fake_ollama` runs once per variant in `e2e.py` (`E2E_VARIANTS`): the same checks through each
provider and each stdio path. `@pytest.mark.variants("ollama", ...)` limits a test to the named
ones.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar_testkit.fake_ollama import ScriptedOllama

from . import e2e
from ..support import REPO_ROOT

BUILD_GUARD_S = 1200.0  # against a hung build, not a speed target


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A conversations folder of the test's own (not made yet: the sidecar makes it)."""
    return tmp_path / "data"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "variants(*names): run this end-to-end test only in the named variants"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if not module.startswith("test_e2e_") or "fake_ollama" not in metafunc.fixturenames:
        return
    names = list(e2e.E2E_VARIANTS)
    marker = metafunc.definition.get_closest_marker("variants")
    if marker is not None:
        unknown = set(marker.args) - set(e2e.E2E_VARIANTS)
        if unknown:
            raise ValueError(f"unknown e2e variants {sorted(unknown)} on {metafunc.function.__name__}")
        names = [name for name in names if name in marker.args]
    metafunc.parametrize("e2e_variant", names, indirect=True)


@pytest.fixture
def e2e_variant(request: pytest.FixtureRequest) -> Iterator[str]:
    """The variant this end-to-end test runs in; `sidecar_for` reads it."""
    name = getattr(request, "param", "ollama")  # tests outside test_e2e_* modules
    token = e2e.CURRENT_VARIANT.set(name)
    try:
        yield name
    finally:
        e2e.CURRENT_VARIANT.reset(token)


@pytest.fixture
async def fake_ollama(e2e_variant: str, fake_ollama: ScriptedOllama) -> ScriptedOllama:
    """The shared scripted Ollama (../conftest.py), in the variant this test runs in."""
    return fake_ollama


@pytest.fixture(scope="session")
def frozen_binary() -> Path:
    """Runs scripts/build-sidecar (a no-op when the build is fresh) and returns the executable."""
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-sidecar")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_GUARD_S,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build-sidecar exited {result.returncode}:\n{result.stderr[-5000:]}")
    executable = Path(result.stdout.strip().splitlines()[-1])
    return executable
