"""The scripted Ollama's `/api/chat` answers that are not a stream of chunks, as Ollama gives them.

Ollama streams NDJSON only when the request lets it (`stream` absent or true). Otherwise, and for
a request with no messages, it answers with one JSON object (`application/json; charset=utf-8`),
which the official clients parse as such (Ollama's `ChatHandler`, `writeChatResponse`):

- `messages` empty or absent: the model is loaded (or, with `keep_alive` 0, unloaded) and the
  answer is one object with an empty assistant message, `done: true` and `done_reason` `"load"`
  (`"unload"`), no metrics. An error scenario (a missing model, ...) answers its error first.
- `stream: false`: the script's chunks collapsed into its final one: the concatenated `content`
  and `thinking`, every tool call, the final chunk's `done_reason` and metrics. A reply that fails
  mid-stream (an `{"error"}` line, or no `done` line) is HTTP 500 with `{"error": ...}`, as
  Ollama's `ChatHandler` answers an error it meets before the end of a non-streamed reply.
  A script that drops or hangs does the same without a body.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Final

import msgspec

from sidecar_testkit.fake_ollama.scenarios import Script
from sidecar_testkit.fake_ollama.wire import error_body, go_json, rfc3339_nano

# `keep_alive` values that mean "unload now" (a number of seconds, or a Go duration).
_UNLOAD: Final = (0, "0", "0s", "0m", "0h")
ENDED_EARLY: Final = "the model's reply ended before it was complete"


def shape(script: Script, request: Any) -> Script:
    """The script a `/api/chat` request gets, given what it asked for."""
    if script.body is not None or not isinstance(request, dict):
        return script  # an error status answers the same way whatever was asked
    if not request.get("messages"):
        # A model that is slow to answer is slow to load: the load answer waits as long.
        return replace(load_reply(request), first_delay=script.first_delay)
    if request.get("stream", True) is False:
        return collapse(script)
    return script


def load_reply(request: dict[str, Any]) -> Script:
    unload = request.get("keep_alive") in _UNLOAD and not isinstance(request.get("keep_alive"), bool)
    reply = {
        "model": request.get("model", ""),
        "created_at": rfc3339_nano(time.time_ns()),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "unload" if unload else "load",
    }
    return Script(body=go_json(reply))


def collapse(script: Script) -> Script:
    """`script`'s NDJSON chunks as one `stream: false` answer (see the module docstring)."""
    if script.ending in ("drop", "hang"):
        return replace(script, lines=[])
    content: list[str] = []
    thinking: list[str] = []
    tool_calls: list[Any] = []
    for line in script.lines:
        try:
            chunk = msgspec.json.decode(line)
        except msgspec.DecodeError:
            return _failed(script, ENDED_EARLY)
        if not isinstance(chunk, dict):
            return _failed(script, ENDED_EARLY)
        if "error" in chunk:
            error = chunk["error"]
            return _failed(script, error if isinstance(error, str) else ENDED_EARLY)
        message = chunk.get("message") or {}
        content.append(message.get("content") or "")
        thinking.append(message.get("thinking") or "")
        tool_calls += message.get("tool_calls") or []
        if chunk.get("done"):
            whole: dict[str, Any] = {"role": message.get("role", "assistant"), "content": "".join(content)}
            if any(thinking):
                whole["thinking"] = "".join(thinking)
            if tool_calls:
                whole["tool_calls"] = tool_calls
            return replace(script, body=go_json({**chunk, "message": whole}), lines=[])
    return _failed(script, ENDED_EARLY)


def _failed(script: Script, message: str) -> Script:
    return replace(script, status=500, body=error_body(message), lines=[])
