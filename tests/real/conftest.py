"""Fixtures for the real-model tests: one llama-cpp-python server per session, a sidecar per test.

These tests run only when named (`scripts/test --real`, or `pytest tests/real`): pyproject's
`norecursedirs` keeps them out of the default run, which neither collects nor skips them. They
need the `real` extra in the venv; scripts/test --real installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from sidecar_testkit.harness import SidecarProcess, open_sidecar

from ..process.e2e import check_lines
from .llama import LlamaServer, run_server


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with run_server(tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


@asynccontextmanager
async def sidecar_on(server: LlamaServer, *args: str) -> AsyncIterator[SidecarProcess]:
    """A real sidecar process pointed at the server as an OpenAI-compatible provider; every line
    it wrote is checked against the protocol schema afterwards, as in the end-to-end tests."""
    async with open_sidecar(
        "--provider", "openai", "--base-url", server.base_url, "--model", server.model, *args
    ) as sidecar:
        yield sidecar
    check_lines(sidecar)


@pytest.fixture
async def sidecar(llama_server: LlamaServer) -> AsyncIterator[SidecarProcess]:
    async with sidecar_on(llama_server) as process:
        yield process
