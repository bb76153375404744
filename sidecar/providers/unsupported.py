"""The model lifecycle of a server that has none: every method answers `not_supported`.

An OpenAI-compatible server lists models (`/models`) and chats, and that is all: it cannot show,
pull, delete, load or unload one, nor say what it runs a model with. `NoModelLifecycle` gives a
client those `Provider` methods (providers/base.py), each raising the `not_supported` error that
names the provider and the method. The dispatcher already refuses these methods for such a
provider (the `methods` list of `sidecar:ready`); this is the same answer, one layer down.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from ..errors import RpcError, not_supported

if TYPE_CHECKING:
    from ..protocol import RequestId
    from ..protocol_models import RunningModelsResult, ShowModelResult
    from .base import ChatStream
    from .ollama.pull import PullState


class NoModelLifecycle:
    provider: str

    def _unsupported(self, method: str) -> RpcError:
        return not_supported(self.provider, method)

    async def show_model(self, model: str) -> ShowModelResult:
        raise self._unsupported("show_model")

    async def running_models(self) -> RunningModelsResult:
        raise self._unsupported("running_models")

    def pull_stream(
        self, model: str, insecure: bool | None
    ) -> AbstractAsyncContextManager[ChatStream]:
        raise self._unsupported("pull_model")

    def new_pull(self, request_id: RequestId | None, model: str) -> PullState:
        raise self._unsupported("pull_model")

    async def delete_model(self, model: str) -> None:
        raise self._unsupported("delete_model")

    async def load_model(self, model: str, keep_alive: int | float | str | None) -> None:
        raise self._unsupported("load_model")

    async def unload_model(self, model: str) -> None:
        raise self._unsupported("unload_model")

    async def context_length(self, model: str) -> int | None:
        """The context window the server runs `model` with: it cannot say."""
        return None
