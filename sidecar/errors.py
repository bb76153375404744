"""JSON-RPC error codes and the one exception type that carries them.

Every failure the sidecar reports travels as an `RpcError` until exactly one place (the
dispatcher's `Server._serve`) turns it into a JSON-RPC error response. The codes are part of the
wire contract (protocol 1) and are pinned by a test; never renumber them. The builders here are
the protocol's own errors; how a model server's failures read (unreachable, model not found,
upstream error, interrupted stream) is each provider's (providers/server_errors.py).
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
OVERLOADED: Final = -32005
THREAD_BUSY: Final = -32006
THREAD_NOT_FOUND: Final = -32007
NOT_SUPPORTED: Final = -32008
CANCELLED: Final = -32010  # a request without a result of its own for a cancel (load_model)

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
    OVERLOADED: "overloaded",
    THREAD_BUSY: "thread_busy",
    THREAD_NOT_FOUND: "thread_not_found",
    NOT_SUPPORTED: "not_supported",
    CANCELLED: "cancelled",
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

    def with_extra(self, **extra: Any) -> RpcError:
        self.extra.update(extra)
        return self

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


def thread_not_found(thread_id: str) -> RpcError:
    return RpcError(
        THREAD_NOT_FOUND,
        f"Thread not found: {thread_id!r}",
        hint="list_threads names the threads there are; it may have been deleted.",
    )


def thread_busy(thread_id: str, elsewhere: bool) -> RpcError:
    where = "in another sidecar on the same data folder" if elsewhere else "in this sidecar"
    return RpcError(
        THREAD_BUSY,
        f"Thread busy: a reply is in flight on thread {thread_id!r} ({where})",
        hint="Wait for that reply to end, or stop it with cancel_chat where it runs.",
    )
def not_supported(provider: str, method: str) -> RpcError:
    return RpcError(
        NOT_SUPPORTED,
        f"Not supported: {method} needs Ollama's own API, and this sidecar speaks to an "
        f"{provider} server (--provider {provider})",
        hint=(
            "Manage models on the server itself, or start the sidecar with --provider ollama "
            "to use an Ollama server; sidecar:ready and status list the methods available."
        ),
    )


def store_off(method: str) -> RpcError:
    """A thread method (or a chat with `thread_id`) on a sidecar started with --no-store."""
    return RpcError(
        NOT_SUPPORTED,
        f"Not supported: {method} needs the conversation store, and this sidecar was started "
        "with --no-store (it keeps no conversations)",
        hint=(
            "Start the sidecar without --no-store (--data-dir DIR chooses the folder) to keep "
            "conversations; a chat without thread_id works as it is."
        ),
    )


def cancelled(method: str) -> RpcError:
    return RpcError(CANCELLED, f"Cancelled: {method} was cancelled before it finished")
