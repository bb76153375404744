"""Helpers for tests that spawn the real sidecar against the scripted Ollama on loopback.

`sidecar_for` starts the sidecar the way the current variant says (see conftest.py): each
variant maps the scripted upstream to the command-line arguments that select a provider or a
stdio path, so one test body checks every way the sidecar can run. After the test body, every
line the sidecar wrote is checked by `check_lines`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Final

from sidecar.fake_ollama import ScriptedOllama
from sidecar.harness import SidecarProcess, open_sidecar

from .support import user

# A guard against hangs, not a speed assertion: these machines are shared and noisy.
GUARD_S: Final = 30.0
TEXT_REPLY: Final = "The sky looks blue because air scatters blue & violet light more."


def _ollama(fake: ScriptedOllama) -> list[str]:
    return ["--ollama-url", fake.url]


# name -> the arguments that point the sidecar at the scripted upstream in that variant.
E2E_VARIANTS: Final[dict[str, Callable[[ScriptedOllama], list[str]]]] = {
    "ollama": _ollama,
}
CURRENT_VARIANT: ContextVar[str] = ContextVar("e2e_variant", default="ollama")


def variant() -> str:
    return CURRENT_VARIANT.get()


def check_lines(sidecar: SidecarProcess) -> None:
    """Checks every line the sidecar wrote (called when `sidecar_for` ends)."""


@asynccontextmanager
async def sidecar_for(fake: ScriptedOllama, *args: str, **kwargs: Any) -> AsyncIterator[SidecarProcess]:
    upstream = E2E_VARIANTS[variant()](fake)
    async with open_sidecar(*upstream, *args, **kwargs) as sidecar:
        yield sidecar
    check_lines(sidecar)


def chat_params(model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user(text), **extra}
