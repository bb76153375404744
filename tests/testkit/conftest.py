"""Fixtures of the testing kit's own tests: the scripted Ollama (`fake`, the shared
`fake_ollama`) and an HTTP client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sidecar_testkit.fake_ollama import ScriptedOllama

from ..support import GUARD_S


@pytest.fixture
async def fake(fake_ollama: ScriptedOllama) -> ScriptedOllama:
    return fake_ollama


@pytest.fixture
async def client(fake: ScriptedOllama) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=GUARD_S) as http:
        yield http
