"""OpenAI-compatible bytes: the chunk, error and model-list shapes of two real `/v1` servers.

Why it is built this way: a client of the OpenAI dialect meets servers that agree on the protocol
and differ in every detail, so the scripted upstream imitates two of them exactly, as the
byte-exact transcripts in `transcripts/` record them (`f-v1-ollama-sse-tool-call.sse`,
`g-v1-llama-server-sse-tool-call.sse`):

- `ollama` (Ollama >= v0.32.6): Go field order and escaping, `role` in the first delta only,
  `content` always present (`""` too), `reasoning`, each tool call whole in one delta with its
  arguments as one JSON string, one `created` for the whole reply, a finish chunk with
  `"delta":{}`, errors as `{"error":{"message","type","param":null,"code":null}}`.
- `llama-server` (the default, the harder case for a client): keys in llama.cpp's order, no HTML
  escaping, a first delta `{"role":"assistant","content":null}`, `reasoning_content`, each tool
  call as a header delta (`index`, `id`, `type`, `name`, `arguments:""`) followed by `arguments`
  fragments that carry only `index` (cut inside string values, so no fragment is valid JSON on
  its own), per-chunk `created`, `timings` on the last chunk, errors as
  `{"error":{"code","message","type"}}`.

The Structs below are those shapes; `openai_render` decides which chunks a reply is made of.

Pure code: no I/O, no trio.
"""


from __future__ import annotations

import calendar
import hashlib
import itertools
import re
import time
from typing import Any, Final, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType

from sidecar_testkit.fake_ollama.wire import go_json

Flavour = Literal["llama-server", "ollama"]
FLAVOURS: Final[tuple[str, ...]] = ("llama-server", "ollama")
DEFAULT_FLAVOUR: Final = "llama-server"

DONE_EVENT: Final = b"data: [DONE]\n\n"
LLAMA_FINGERPRINT: Final = "b6500-3f1c2a9d"
OLLAMA_FINGERPRINT: Final = "fp_ollama"
_ALNUM: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_encoder: Final = msgspec.json.Encoder()


def event(data: bytes) -> bytes:
    """One SSE event carrying `data` (a JSON document or `[DONE]`)."""
    return b"data: " + data + b"\n\n"


def made_up_id(seed: str, length: int, alphabet: str = _ALNUM) -> str:
    """`length` characters of `alphabet`, fixed for a given `seed`."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, digit = divmod(digest, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


def completion_id(flavour: str, number: int) -> str:
    """The reply id a server of `flavour` would give its `number`-th reply."""
    if flavour == "ollama":
        return f"chatcmpl-{number % 999}"  # Ollama: chatcmpl- + rand.Intn(999)
    return "chatcmpl-" + made_up_id(f"completion {number}", 32)


def unix_seconds(created_at: Any) -> int:
    """Whole seconds of an RFC 3339 UTC stamp as Ollama writes it; now if it is not one."""
    if isinstance(created_at, str):
        match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", created_at)
        if match:
            return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    return int(time.time())


# --- Ollama's structs (openai/openai.go), in Go order ---------------------------------------------


class OllamaFunction(Struct):
    name: str
    arguments: str


class OllamaToolCall(Struct):
    id: str
    index: int
    type: str
    function: OllamaFunction


class OllamaDelta(Struct, omit_defaults=True):
    role: str = ""
    content: str | UnsetType = UNSET  # written on every converted chunk, absent on the finish
    reasoning: str = ""
    tool_calls: list[OllamaToolCall] = []


class OllamaChoice(Struct):
    index: int
    delta: OllamaDelta
    finish_reason: str | None


class OpenAIUsage(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OllamaChunk(Struct, omit_defaults=True):
    id: str
    object: str
    created: int
    model: str
    system_fingerprint: str
    choices: list[OllamaChoice]
    usage: OpenAIUsage | UnsetType = UNSET


# --- llama-server's JSON (tools/server/server-task.cpp), in its key order --------------------------


class LlamaFunction(Struct, omit_defaults=True, kw_only=True):
    name: str | UnsetType = UNSET
    arguments: str  # always written: "" in a call's header delta


class LlamaToolCall(Struct, omit_defaults=True):
    index: int
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: LlamaFunction | UnsetType = UNSET


class LlamaDelta(Struct, omit_defaults=True):
    role: str | UnsetType = UNSET
    content: str | None | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[LlamaToolCall] | UnsetType = UNSET


class LlamaChoice(Struct):
    finish_reason: str | None
    index: int
    delta: LlamaDelta


class LlamaUsage(Struct):
    completion_tokens: int
    prompt_tokens: int
    total_tokens: int


class Timings(Struct):
    cache_n: int
    prompt_n: int
    prompt_ms: float
    prompt_per_token_ms: float
    prompt_per_second: float
    predicted_n: int
    predicted_ms: float
    predicted_per_token_ms: float
    predicted_per_second: float


class LlamaChunk(Struct, omit_defaults=True):
    choices: list[LlamaChoice]
    created: int
    id: str
    model: str
    system_fingerprint: str
    object: str
    usage: LlamaUsage | UnsetType = UNSET
    timings: Timings | UnsetType = UNSET


def timings_from(chunk: dict[str, Any]) -> Timings:
    """llama-server's `timings`, computed from an Ollama done chunk's counts and durations."""
    prompt_n = count(chunk, "prompt_eval_count")
    predicted_n = count(chunk, "eval_count")
    prompt_ms = count(chunk, "prompt_eval_duration") / 1e6
    predicted_ms = count(chunk, "eval_duration") / 1e6

    def per_token(ms: float, n: int) -> float:
        return ms / n if n else 0.0

    def per_second(ms: float, n: int) -> float:
        return 1e3 * n / ms if ms else 0.0

    return Timings(
        cache_n=0, prompt_n=prompt_n, prompt_ms=prompt_ms,
        prompt_per_token_ms=per_token(prompt_ms, prompt_n),
        prompt_per_second=per_second(prompt_ms, prompt_n),
        predicted_n=predicted_n, predicted_ms=predicted_ms,
        predicted_per_token_ms=per_token(predicted_ms, predicted_n),
        predicted_per_second=per_second(predicted_ms, predicted_n),
    )


def count(chunk: dict[str, Any], key: str) -> int:
    value = chunk.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --- tool-call arguments as llama-server streams them --------------------------------------------


def llama_arguments(arguments: Any) -> str:
    """Arguments as a model writes them: JSON with a space after `:` and `,`, UTF-8 unescaped."""
    return msgspec.json.format(_encoder.encode(arguments), indent=0).decode()


def argument_fragments(text: str) -> list[str]:
    """`text` cut at the start and end of every string value and between its words.

    `{"city": "Tokyo"}` -> `{"city": "`, `Tokyo`, `"}` (as in fixture g). Keys stay whole; escape
    sequences are never cut. Joined, the fragments are `text` again.
    """
    cuts: set[int] = set()
    i = 0
    while i < len(text):
        if text[i] != '"':
            i += 1
            continue
        end = i + 1
        while text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        after = end + 1
        while after < len(text) and text[after] == " ":
            after += 1
        if after >= len(text) or text[after] != ":":  # a value, not a key
            position = i + 1
            cuts.update((position, end))
            for piece in re.findall(r"\S+\s*|\s+", text[i + 1 : end])[:-1]:
                position += len(piece)
                cuts.add(position)
        i = end + 1
    bounds = [0, *sorted(cut for cut in cuts if 0 < cut < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if a < b]


# --- errors and models -----------------------------------------------------------------------

_OLLAMA_ERROR_TYPES: Final = {400: "invalid_request_error", 404: "not_found_error"}
_LLAMA_ERROR_TYPES: Final = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 501: "not_supported_error", 503: "unavailable_error",
}


def error_body(flavour: str, status: int, message: str) -> bytes:
    """An error response body as the server of `flavour` writes it for `status`.

    Ollama: `{"error":{"message","type","param":null,"code":null}}` + `\\n` (json.NewEncoder);
    llama-server: `{"error":{"code","message","type"}}`.
    """
    if flavour == "ollama":
        kind = _OLLAMA_ERROR_TYPES.get(status, "api_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return go_json(body) + b"\n"
    kind = _LLAMA_ERROR_TYPES.get(status, "server_error")
    return _encoder.encode({"error": {"code": status, "message": message, "type": kind}})


def error_message(body: bytes) -> str | None:
    """The message of an Ollama error body `{"error": "..."}`, or None for any other body."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return decoded["error"]
    return None


class ModelEntry(Struct):
    id: str
    object: str
    created: int
    owned_by: str


class ModelList(Struct):
    object: str
    data: list[ModelEntry]


def models_body(flavour: str, names: list[str], *, created: int) -> bytes:
    """The `GET /v1/models` body listing `names`."""
    owner = "library" if flavour == "ollama" else "llamacpp"
    listing = ModelList("list", [ModelEntry(name, "model", created, owner) for name in names])
    return go_json(listing) if flavour == "ollama" else _encoder.encode(listing)


def split_events(body: bytes) -> list[bytes]:
    """The events of an SSE body (each `data: ...\\n\\n`, comments included), in order."""
    return [piece + b"\n\n" for piece in body.split(b"\n\n")[:-1]]
