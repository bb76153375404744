"""JSON-RPC error codes and the one exception type that carries them.

Every failure the sidecar reports travels as an `RpcError` until exactly one place (the
dispatcher's `respond`) turns it into a JSON-RPC error response. The codes are part of the wire
contract (protocol 1) and are pinned by a test; never renumber them.
"""

from __future__ import annotations

from typing import Any, Final

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
OLLAMA_UNREACHABLE: Final = -32000
MODEL_NOT_FOUND: Final = -32001
UPSTREAM_ERROR: Final = -32002
STREAM_INTERRUPTED: Final = -32003
BUSY: Final = -32004

KIND_BY_CODE: Final[dict[int, str]] = {
    PARSE_ERROR: "parse_error",
    INVALID_REQUEST: "invalid_request",
    METHOD_NOT_FOUND: "method_not_found",
    INVALID_PARAMS: "invalid_params",
    INTERNAL_ERROR: "internal_error",
    OLLAMA_UNREACHABLE: "ollama_unreachable",
    MODEL_NOT_FOUND: "model_not_found",
    UPSTREAM_ERROR: "upstream_error",
    STREAM_INTERRUPTED: "stream_interrupted",
    BUSY: "busy",
}


class RpcError(Exception):
    """A failure that becomes one JSON-RPC error object.

    `data` always carries `kind` (the lower-case name of the code); `hint` is added when there is
    something the user can do; `extra` holds further keys such as `status` or `messages`.
    """

    def __init__(
        self, code: int, message: str, *, hint: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.extra = extra

    @property
    def kind(self) -> str:
        return KIND_BY_CODE[self.code]

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.hint is not None:
            data["hint"] = self.hint
        data.update(self.extra)
        return data

    def __repr__(self) -> str:
        return f"RpcError({self.code}, {self.message!r})"


def parse_error(detail: str) -> RpcError:
    return RpcError(PARSE_ERROR, f"Parse error: {detail}")


def invalid_request(detail: str) -> RpcError:
    return RpcError(INVALID_REQUEST, f"Invalid request: {detail}")


def invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}")


def internal_error(exc: BaseException) -> RpcError:
    return RpcError(
        INTERNAL_ERROR,
        f"Internal error: {type(exc).__name__}: {exc}",
        hint="This is a bug in ollama-sidecar; its stderr log has the details.",
    )


# How messages name the upstream: Ollama's own API, or any OpenAI-compatible server.
OLLAMA: Final = "Ollama"
OPENAI_COMPATIBLE: Final = "the OpenAI-compatible server"


def short_name(server: str) -> str:
    """How a detail names the server once the message has said which one it is."""
    return server if server == OLLAMA else "the server"


def _capital(server: str) -> str:
    return server[:1].upper() + server[1:]


def ollama_unreachable(url: str, detail: str, server: str = OLLAMA) -> RpcError:
    if server == OLLAMA:
        hint = (
            "Start Ollama (run `ollama serve` or open the Ollama app), or point the sidecar at it "
            "with OLLAMA_HOST or --ollama-url."
        )
    else:
        hint = (
            "Start the server at that address, or point the sidecar at it with --base-url or "
            "OPENAI_BASE_URL (without either, --provider openai uses Ollama's /v1 at OLLAMA_HOST)."
        )
    return RpcError(
        OLLAMA_UNREACHABLE, f"{_capital(server)} is not reachable at {url}: {detail}", hint=hint
    )


def model_not_found(model: str, detail: str, server: str = OLLAMA) -> RpcError:
    if server == OLLAMA:
        return RpcError(
            MODEL_NOT_FOUND,
            f"Model {model!r} is not installed in Ollama: {detail}",
            hint=f"Run `ollama pull {model}`, or pick an installed model (list_models).",
        )
    return RpcError(
        MODEL_NOT_FOUND,
        f"Model {model!r} is not served by {server}: {detail}",
        hint=(
            f"Pick a model the server serves (list_models); with Ollama's /v1 endpoint, run "
            f"`ollama pull {model}` first."
        ),
    )


def upstream_error(
    status: int, detail: str, server: str = OLLAMA, *, hint: str | None = None
) -> RpcError:
    """An HTTP status >= 400 (or an error inside a 200 stream); `hint` overrides the usual one."""
    name = "Ollama" if server == OLLAMA else "OpenAI-compatible server"
    return RpcError(
        UPSTREAM_ERROR,
        f"{name} error: {detail}",
        hint=hint if hint is not None else _upstream_hint(status, detail, server),
        status=status,
    )


def _upstream_hint(status: int, detail: str, server: str) -> str | None:
    if status == 503:
        return f"{_capital(server)} is busy; try again in a moment."
    if "does not support tools" in detail:
        return "Pick a model that supports tools, or send the chat without tools."
    if "does not support thinking" in detail:
        return "Pick a thinking model, or send the chat without `think`."
    if status == 200:
        where = "the Ollama server log" if server == OLLAMA else "the server's log"
        return f"The model failed while generating; check {where}, then retry."
    return None


def stream_interrupted(detail: str, server: str = OLLAMA) -> RpcError:
    return RpcError(
        STREAM_INTERRUPTED,
        f"Stream from {server} interrupted: {detail}",
        hint="The partial reply is kept in error.data.messages; retry to get a full reply.",
    )
