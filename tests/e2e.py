"""Helpers for tests that spawn the real sidecar against the scripted Ollama on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from sidecar.fake_ollama import ScriptedOllama
from sidecar.harness import SidecarProcess, open_sidecar

from .support import user

# A guard against hangs, not a speed assertion: these machines are shared and noisy.
GUARD_S: Final = 30.0
TEXT_REPLY: Final = "The sky looks blue because air scatters blue & violet light more."


@asynccontextmanager
async def sidecar_for(fake: ScriptedOllama, *args: str, **kwargs: Any) -> AsyncIterator[SidecarProcess]:
    async with open_sidecar("--ollama-url", fake.url, *args, **kwargs) as sidecar:
        yield sidecar


def chat_params(model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user(text), **extra}
