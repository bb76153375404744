"""How an OpenAI-compatible server's failures read: the wording, and which 404 means a model.

What servers put in a 404 when the model (not the path) is missing: Ollama's /v1 says
"model 'x' not found", OpenAI "The model `x` does not exist" (code model_not_found), vLLM
"The model `x` does not exist.". The error type alone says nothing: llama-server answers a
wrong path with type not_found_error too ("File Not Found").
"""

from __future__ import annotations

from typing import Final

import msgspec

from ...errors import MODEL_NOT_FOUND, RpcError
from ..server_errors import ServerErrors, error_body_decoder, error_detail, plain_detail

OPENAI_COMPATIBLE: Final = ServerErrors(
    name="the OpenAI-compatible server",
    short="the server",
    title="OpenAI-compatible server",
    log="the server's log",
    unreachable_hint=(
        "Start the server at that address, or point the sidecar at it with --base-url or "
        "OPENAI_BASE_URL (without either, --provider openai uses Ollama's /v1 at OLLAMA_HOST)."
    ),
)
_MODEL_MISSING_CODE: Final = "model_not_found"
_MODEL_MISSING_WORDS: Final = ("not found", "does not exist", "no such model", "unknown model")


def model_not_found(model: str, detail: str) -> RpcError:
    return RpcError(
        MODEL_NOT_FOUND,
        f"Model {model!r} is not served by {OPENAI_COMPATIBLE.name}: {detail}",
        hint=(
            f"Pick a model the server serves (list_models); with Ollama's /v1 endpoint, run "
            f"`ollama pull {model}` first."
        ),
    )


def status_error(status: int, body: bytes, *, model: str | None, hint: str | None) -> RpcError:
    """An HTTP error status as `RpcError`; `hint` (the API key's) wins when set."""
    detail = error_detail(body)
    if status == 404 and model is not None and _says_model_missing(body, detail):
        return model_not_found(model, detail)
    return OPENAI_COMPATIBLE.upstream_error(status, detail or plain_detail(status, body), hint=hint)


def _says_model_missing(body: bytes, detail: str) -> bool:
    """Whether an OpenAI-shaped 404 body is about the model (a wrong path is not)."""
    lowered = detail.lower()
    if "model" in lowered and any(words in lowered for words in _MODEL_MISSING_WORDS):
        return True
    try:
        error = error_body_decoder.decode(body).error
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    if not isinstance(error, dict):
        return False
    return error.get("code") == _MODEL_MISSING_CODE
