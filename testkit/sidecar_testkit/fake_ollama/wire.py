"""Ollama-shaped bytes: NDJSON chat chunks, error bodies and timestamps, exactly as Go writes them.

Why this module exists: a client that works against these lines must also work against a real
Ollama, so the lines are built from msgspec Structs declared in Go's struct order (`api/types.go`
`ChatResponse`, `Metrics`, `Message`, `ToolCall`, `ToolCallFunction`), with `omit_defaults`
standing in for Go's `omitempty`, and then passed through `go_escape`, which adds the escapes Go's
`encoding/json` writes and msgspec does not (`<`, `>`, `&`, U+2028, U+2029). Everything else
(control characters, `"`, `\\`, raw U+0085) is already identical between the two encoders.

Pure code: no I/O, no trio.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Final

import msgspec
from msgspec import UNSET, Struct, UnsetType

# Go's HTML-safe escaping plus the two JavaScript line separators (encode.go `appendString`).
_GO_ESCAPES: Final = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)

_encoder: Final = msgspec.json.Encoder()

# Gap between the created_at values of consecutive chunks of one scripted reply.
CHUNK_STEP_NS: Final = 12_345_678


def go_escape(encoded: bytes) -> bytes:
    """Add Go's extra string escapes to compact JSON produced by msgspec.

    Safe on whole documents: the replaced characters can only occur inside JSON strings.
    """
    for raw, escaped in _GO_ESCAPES:
        encoded = encoded.replace(raw, escaped)
    return encoded


def go_json(value: Any) -> bytes:
    """Encode `value` as compact JSON byte-identical to Go's `json.Marshal` (no newline)."""
    return go_escape(_encoder.encode(value))


def error_body(message: str) -> bytes:
    """The body gin's `c.JSON(status, gin.H{"error": message})` writes: no trailing newline."""
    return go_json({"error": message})


def rfc3339_nano(ns_since_epoch: int) -> str:
    """Format a UTC time like Go's `time.RFC3339Nano`: trailing zeros of the fraction trimmed."""
    seconds, nanos = divmod(ns_since_epoch, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def fake_digest(name: str) -> str:
    """A stable 64-hex-digit digest for a scripted model name."""
    return hashlib.sha256(name.encode()).hexdigest()


# --- Chunk structs, in Go declaration order ---------------------------------------------------


class ToolCallFunction(Struct, omit_defaults=True, kw_only=True):
    # `index` has no omitempty since v0.12.6; UNSET imitates older servers, which omitted 0.
    index: int | UnsetType = UNSET
    name: str
    arguments: dict[str, Any]


class ToolCall(Struct, omit_defaults=True, kw_only=True):
    # `id` exists since v0.12.10 and is omitempty.
    id: str = ""
    function: ToolCallFunction


class ChunkMessage(Struct, omit_defaults=True):
    role: str
    content: str  # required, so it is written even when ""
    thinking: str = ""
    tool_calls: list[ToolCall] = []


class ChatChunk(Struct, omit_defaults=True):
    model: str
    created_at: str
    message: ChunkMessage
    done: bool
    done_reason: str = ""
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0


def tool_call(
    name: str, arguments: dict[str, Any], *, index: int | None = 0, id: str = ""
) -> ToolCall:
    """A whole tool call; `index=None` and `id=""` give the pre-v0.12.6 / pre-v0.12.10 shape."""
    return ToolCall(
        id=id,
        function=ToolCallFunction(
            index=UNSET if index is None else index, name=name, arguments=arguments
        ),
    )


class ChunkWriter:
    """Builds the NDJSON lines of one reply for one model, with advancing `created_at` values.

    Every method returns one complete line (compact JSON + `b"\\n"`). The writer counts the
    content chunks it produced so `final()` can report a plausible `eval_count`.
    """

    def __init__(self, model: str, *, start_ns: int | None = None) -> None:
        self.model = model
        self._now_ns = time.time_ns() if start_ns is None else start_ns
        self._chunks = 0

    def chunk(
        self,
        content: str = "",
        *,
        thinking: str = "",
        tool_calls: list[ToolCall] | None = None,
    ) -> bytes:
        """A `done:false` chunk."""
        self._chunks += 1
        return self._line(
            ChatChunk(
                model=self.model,
                created_at=self._tick(),
                message=ChunkMessage("assistant", content, thinking, tool_calls or []),
                done=False,
            )
        )

    def final(
        self,
        done_reason: str = "stop",
        *,
        content: str = "",
        thinking: str = "",
        tool_calls: list[ToolCall] | None = None,
        prompt_eval_count: int = 26,
        eval_count: int | None = None,
    ) -> bytes:
        """The `done:true` chunk with `done_reason` and the six metrics.

        `eval_count` defaults to one more than the chunks written so far.
        """
        eval_count = self._chunks + 1 if eval_count is None else eval_count
        eval_duration = eval_count * 41_250_000
        prompt_eval_duration = prompt_eval_count * 2_000_000
        load_duration = 18_734_201
        return self._line(
            ChatChunk(
                model=self.model,
                created_at=self._tick(),
                message=ChunkMessage("assistant", content, thinking, tool_calls or []),
                done=True,
                done_reason=done_reason,
                total_duration=load_duration + prompt_eval_duration + eval_duration + 3_171_009,
                load_duration=load_duration,
                prompt_eval_count=prompt_eval_count,
                prompt_eval_duration=prompt_eval_duration,
                eval_count=eval_count,
                eval_duration=eval_duration,
            )
        )

    def _tick(self) -> str:
        stamp = rfc3339_nano(self._now_ns)
        self._now_ns += CHUNK_STEP_NS
        return stamp

    @staticmethod
    def _line(chunk: ChatChunk) -> bytes:
        return go_json(chunk) + b"\n"


# --- /api/tags ---------------------------------------------------------------------------------


class ModelDetails(Struct):
    parent_model: str
    format: str
    family: str
    families: list[str]
    parameter_size: str
    quantization_level: str


class ListModel(Struct, omit_defaults=True):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails
    capabilities: list[str] | UnsetType = UNSET  # since v0.30.0, omitempty


class TagsResponse(Struct):
    models: list[ListModel]


_SCRIPTED_DETAILS: Final = ModelDetails(
    parent_model="",
    format="gguf",
    family="scripted",
    families=["scripted"],
    parameter_size="1B",
    quantization_level="Q4_K_M",
)


def model_size(name: str) -> int:
    """The stable made-up size in bytes of a scripted model."""
    return 700_000_000 + int(fake_digest(name)[:6], 16)


def scripted_details() -> ModelDetails:
    return _SCRIPTED_DETAILS


def tags_body(
    names: list[str], *, modified_ns: int, capabilities: dict[str, list[str]] | None = None
) -> bytes:
    """The `/api/tags` body listing `names` as installed models (gin c.JSON: no newline);
    `capabilities` (name -> list, as v0.30.0 and later send) when given."""
    models = []
    for name in names:
        caps = (capabilities or {}).get(name)
        models.append(
            ListModel(
                name=name,
                model=name,
                modified_at=rfc3339_nano(modified_ns),
                size=model_size(name),
                digest=fake_digest(name),
                details=_SCRIPTED_DETAILS,
                capabilities=caps if caps else UNSET,
            )
        )
    return go_json(TagsResponse(models=models))
