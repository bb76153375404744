"""How a model server's failures read: the error builders every dialect shares.

The JSON-RPC codes and `RpcError` are the stdio contract's (sidecar/errors.py). What differs by
dialect is only the wording: how a message names the server, what the hint suggests. Each
dialect describes itself once with a `ServerErrors` (`ollama/errors.py`, `openai/errors.py`),
and everything that fails on the way to that server (the shared HTTP machinery, the turns)
builds its errors from it, so nothing here branches on a provider's name.

`error_detail` reads the message out of an error body in any of the shapes servers send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
from msgspec import UNSET, Struct

from ..errors import OLLAMA_UNREACHABLE, STREAM_INTERRUPTED, UPSTREAM_ERROR, RpcError


@dataclass(frozen=True)
class ServerErrors:
    """One dialect's wording of the upstream error kinds."""

    name: str  # in a message: "Stream from <name> interrupted"
    short: str  # in a detail, once the message has said which server it is
    title: str  # "<title> error: ..."
    log: str  # where the server logs what failed
    unreachable_hint: str

    @property
    def capital(self) -> str:
        return self.name[:1].upper() + self.name[1:]

    def unreachable(self, url: str, detail: str) -> RpcError:
        return RpcError(
            OLLAMA_UNREACHABLE,
            f"{self.capital} is not reachable at {url}: {detail}",
            hint=self.unreachable_hint,
        )

    def upstream_error(self, status: int, detail: str, *, hint: str | None = None) -> RpcError:
        """An HTTP status >= 400 (or an error inside a 200 stream); `hint` overrides the usual
        one."""
        return RpcError(
            UPSTREAM_ERROR,
            f"{self.title} error: {detail}",
            hint=hint if hint is not None else self._upstream_hint(status, detail),
            status=status,
        )

    def _upstream_hint(self, status: int, detail: str) -> str | None:
        if status == 503:
            return f"{self.capital} is busy; try again in a moment."
        if "does not support tools" in detail:
            return "Pick a model that supports tools, or send the chat without tools."
        if "does not support thinking" in detail:
            return "Pick a thinking model, or send the chat without `think`."
        if status == 200:
            return f"The model failed while generating; check {self.log}, then retry."
        return None

    def stream_interrupted(self, detail: str) -> RpcError:
        return RpcError(
            STREAM_INTERRUPTED,
            f"Stream from {self.name} interrupted: {detail}",
            hint="The partial reply is kept in error.data.messages; retry to get a full reply.",
        )


class ErrorBody(Struct):
    error: Any = UNSET
    message: Any = UNSET  # vLLM's own error body has no "error" key


error_body_decoder: Final = msgspec.json.Decoder(ErrorBody)


def error_detail(body: bytes) -> str:
    """The message of `{"error": str}`, OpenAI's `{"error": {"message": str}}` or vLLM's
    `{"object": "error", "message": str}`, else `""`."""
    try:
        decoded = error_body_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ""
    error = decoded.error
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(decoded.message, str):
        return decoded.message
    return ""


def plain_detail(status: int, body: bytes) -> str:
    """What an error body says when it is not JSON: its text (500 characters at most), else
    the status."""
    return body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
