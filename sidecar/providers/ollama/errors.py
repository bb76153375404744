"""How Ollama's failures read: its wording, and what its error statuses mean.

Only Ollama's JSON error says a model is missing (`{"error": "model 'x' not found"}` with 404);
gin's plain-text 404 means a wrong path, which is an upstream_error.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ...errors import MODEL_NOT_FOUND, RpcError
from ..server_errors import ServerErrors, error_detail, plain_detail

OLLAMA: Final = ServerErrors(
    name="Ollama",
    short="Ollama",
    title="Ollama",
    log="the Ollama server log",
    unreachable_hint=(
        "Start Ollama (run `ollama serve` or open the Ollama app), or point the sidecar at it "
        "with OLLAMA_HOST or --ollama-url."
    ),
)


def model_not_found(model: str, detail: str) -> RpcError:
    return RpcError(
        MODEL_NOT_FOUND,
        f"Model {model!r} is not installed in Ollama: {detail}",
        hint=(
            f"Pull it with the pull_model method (in a terminal: `ollama pull {model}`), or pick "
            "an installed model (list_models)."
        ),
    )


MANIFEST_MISSING: Final = "file does not exist"  # in /api/pull's error for a name the registry lacks
PULL_FAILED_HINT: Final = (
    "The download failed; check your network and the Ollama server log, then pull again (it"
    " resumes from the bytes already fetched)."
)


def pull_not_found(model: str, detail: str) -> RpcError:
    return RpcError(
        MODEL_NOT_FOUND,
        f"Model {model!r} does not exist in the registry: {detail}",
        hint="Check the name and tag (the library is at https://ollama.com/library).",
    )


def status_error(status: int, body: bytes, *, model: str | None, hint: str | None) -> RpcError:
    """An HTTP error status from Ollama as `RpcError`; `hint` (the API key's) wins when set."""
    detail = error_detail(body)
    if status == 401 and (signin_url := _signin_url(body)):
        # A cloud model on a server that is not signed in: an API key would not help.
        return OLLAMA.upstream_error(
            status,
            detail or "unauthorized",
            hint=(
                "Sign in to ollama.com: run `ollama signin` on the machine where Ollama runs, or "
                "open data.signin_url in a browser; then retry."
            ),
        ).with_extra(signin_url=signin_url)
    if status == 404 and model is not None and "not found" in detail:
        return model_not_found(model, detail)
    return OLLAMA.upstream_error(status, detail or plain_detail(status, body), hint=hint)


class _SigninBody(msgspec.Struct):
    signin_url: Any = None


def _signin_url(body: bytes) -> str | None:
    try:
        url = msgspec.json.decode(body, type=_SigninBody).signin_url
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return url if isinstance(url, str) and url else None
