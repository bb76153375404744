"""Shared fixtures: the scripted Ollama on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sidecar.fake_ollama import ScriptedOllama, open_scripted_ollama


@pytest.fixture
async def fake_ollama() -> AsyncIterator[ScriptedOllama]:
    async with open_scripted_ollama() as fake:
        yield fake
