"""The seam between a chat and a model server: the neutral request and the `Provider` protocol.

A chat (chat.py) and the dispatcher (server.py) see a model server only through `Provider`;
each dialect (`ollama/`, `openai/`) implements it on top of the HTTP machinery in `http.py`.
`ChatRequest` is what a chat asks for, in no server's dialect: each client translates it into
its own body (`ollama.wire.chat_body`, `openai.wire.chat_body`). Its messages are the
protocol's `Message` (the stdio contract's shape, which the host sends and gets back).

Later capabilities become methods here, each with an `RpcError` for a dialect that cannot do
them (docs/architecture.md says where things go).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import UNSET, Struct, UnsetType

from ..protocol import Message, ModelInfo, RequestId, ToolChoice
from ..protocol_models import RunningModelsResult, ShowModelResult

if TYPE_CHECKING:
    from .ollama.pull import PullState
    from .turn import Turn


class ChatRequest(Struct, omit_defaults=True):
    """One streamed reply asked of a model: the chat's params, resolved (model, tools)."""

    model: str
    messages: list[Message]
    options: dict[str, Any] | UnsetType = UNSET
    think: bool | str | UnsetType = UNSET
    format: str | dict[str, Any] | UnsetType = UNSET
    keep_alive: int | float | str | UnsetType = UNSET
    tools: list[dict[str, Any]] | UnsetType = UNSET
    # OpenAI's tool_choice: the OpenAI dialect sends it, Ollama's has no such field.
    tool_choice: ToolChoice | UnsetType = UNSET
    # Ollama's: forwarded by its dialect only.
    logprobs: bool | UnsetType = UNSET
    top_logprobs: int | UnsetType = UNSET
    truncate: bool | UnsetType = UNSET
    shift: bool | UnsetType = UNSET


class ChatStream(Protocol):
    """The body of a streamed reply, one decoded network read at a time."""

    async def read(self) -> bytes:
        """The next read's body bytes, `b""` at the end. Raises `RpcError`
        (stream_interrupted)."""
        ...


class Provider(Protocol):
    """Everything the chat loop and the dispatcher use of a model server."""

    url: str  # the base URL (reported as ollama_url)
    provider: str  # "ollama" or "openai"

    def chat_stream(self, request: ChatRequest) -> AbstractAsyncContextManager[ChatStream]:
        """The streamed reply's body; raises `RpcError`; leaving it closes the connection,
        which is how the server is told to stop."""
        ...

    def new_turn(self, chat_id: RequestId | None, started_at: float) -> Turn:
        """A turn that reads this server's chat stream."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    # The model lifecycle; a dialect that cannot do one raises `RpcError` (not_supported).

    async def show_model(self, model: str) -> ShowModelResult: ...

    async def running_models(self) -> RunningModelsResult: ...

    def pull_stream(
        self, model: str, insecure: bool | None
    ) -> AbstractAsyncContextManager[ChatStream]:
        """`POST /api/pull`'s NDJSON body; leaving it closes the connection (the cancel)."""
        ...

    def new_pull(self, request_id: RequestId | None, model: str) -> PullState:
        """The state that reads this server's pull stream (bytes in, progress out)."""
        ...

    async def delete_model(self, model: str) -> None: ...

    async def load_model(self, model: str, keep_alive: int | float | str | None) -> None:
        """Returns once the model is in memory."""
        ...

    async def unload_model(self, model: str) -> None: ...

    async def context_length(self, model: str) -> int | None:
        """The context window `model` runs with upstream, None when unknown."""
        ...

    async def probe(self) -> str | None:
        """Raises `RpcError` unless the server answers; returns its version when it has one."""
        ...

    def redact(self, text: str) -> str:
        """`text` without the API key (a server may echo what it was sent)."""
        ...

    async def aclose(self) -> None: ...
