"""Everything that speaks to a model server: the `Provider` protocol and its two dialects.

    base.py           the neutral `ChatRequest` and the `Provider` protocol (the seam)
    turn.py           the neutral `Turn`: one reply's state, whatever the dialect
    http.py           the HTTP machinery both clients share (`HttpProvider`)
    http1.py          the HTTP/1.1 response reader for the chat stream (pure)
    server_errors.py  how an upstream's failures read (`ServerErrors`), error bodies
    ollama/           Ollama's `/api/chat`: client, wire types, NDJSON turn, errors
    openai/           OpenAI-compatible `/chat/completions`: client, wire types, SSE turn, errors

`make_client` picks the dialect by `--provider`. It imports the client only when called, so
that starting the sidecar (which announces readiness before it imports them) stays fast.
"""

from __future__ import annotations

from ..config import Config
from .base import ChatRequest, ChatStream, Provider

__all__ = ["ChatRequest", "ChatStream", "Provider", "make_client"]


def make_client(config: Config) -> Provider:
    """The client for `--provider`."""
    if config.provider == "openai":
        from .openai.client import OpenAIClient

        return OpenAIClient(config)
    from .ollama.client import OllamaClient

    return OllamaClient(config)
