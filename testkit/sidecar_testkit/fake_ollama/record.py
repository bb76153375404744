"""What the scripted upstream saw: one `RequestRecord` per HTTP request, and what became of it.

A module of its own so tests and the server share one definition of a chat request: `record.chat`
reads either dialect (`/api/chat` or `/v1/chat/completions`) in the neutral shape of
`openai_request`, so a test can assert what a client sent upstream whichever provider it used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import trio

from sidecar_testkit.fake_ollama.openai_request import neutral_request, ollama_request

API_CHAT: Final = "/api/chat"
V1_CHAT: Final = "/v1/chat/completions"
CHAT_PATHS: Final = frozenset({API_CHAT, V1_CHAT})


@dataclass(eq=False)
class RequestRecord:
    """One HTTP request as the server saw it, and what became of its response.

    `received_at`, `finished_at` and `disconnected_at` are `time.monotonic()` values.
    `finished_at` is set just before the last bytes of the response are written, so it is set
    by the time a client has seen the whole response (for `drop`: just before the connection is
    cut). `disconnected_at` is set when the client closed the connection before that (EOF or
    reset while reading, or a failed write); if the very last write fails, both are set. The
    `finished` and `disconnected` events fire at the same moments. `connection` numbers the TCP
    connections, so keep-alive reuse is visible; `scenario` is the scenario played, if any.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    model: str | None
    received_at: float
    lines_sent: int = 0
    finished_at: float | None = None
    disconnected_at: float | None = None
    connection: int = 0
    scenario: str | None = None
    finished: trio.Event = field(default_factory=trio.Event, repr=False)
    disconnected: trio.Event = field(default_factory=trio.Event, repr=False)

    @property
    def client_disconnected(self) -> bool:
        return self.disconnected_at is not None

    @property
    def chat(self) -> dict[str, Any] | None:
        """A chat request in the neutral shape, whichever dialect carried it (else None).

        `{"model", "messages", "tools", "options"}`, each message reduced to `role`, `content`,
        `tool_calls` (`{"id", "name", "arguments": object}`) and, for tool messages, `tool_name`
        and `tool_call_id`; see `openai_request`. Compare with `neutral_messages(...)`.
        """
        if self.method != "POST" or self.path not in CHAT_PATHS:
            return None
        return neutral_request(ollama_request(self.json) if self.path == V1_CHAT else self.json)

    def _mark_finished(self) -> None:
        if self.finished_at is None:
            self.finished_at = time.monotonic()
            self.finished.set()


def decode_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return None
