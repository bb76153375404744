"""Rows to wire Structs and back: ids, timestamps, and the JSON-encoded columns (pure).

`tool_calls`, `images`, `usage` and `error` are stored as JSON text; everything else as plain
columns. Decoders and encoders are built once here.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from ..protocol import Message, ToolCall, Usage
from ..thread_protocol import StoredError, StoredMessage, ThreadInfo

MESSAGE_COLUMNS: Final = (
    "id, parent_id, role, content, thinking, tool_calls, images, tool_name, tool_call_id, "
    "status, error, usage, created_at, owner_pid, owner_start, thread_id"
)
THREAD_COLUMNS: Final = "id, title, model, system, created_at, updated_at"

_encode: Final = msgspec.json.Encoder().encode
_tool_calls: Final = msgspec.json.Decoder(list[ToolCall])
_strings: Final = msgspec.json.Decoder(list[str])
_usage: Final = msgspec.json.Decoder(Usage)
_error: Final = msgspec.json.Decoder(StoredError)


def now() -> str:
    """UTC, ISO 8601 with microseconds: sorts as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def json_or_none(value: Any) -> str | None:
    if value is msgspec.UNSET or value is None or value == []:
        return None
    return _encode(value).decode()


def thread_info(row: sqlite3.Row | tuple[Any, ...]) -> ThreadInfo:
    return ThreadInfo(*row[:6])


def stored_message(row: sqlite3.Row | tuple[Any, ...], versions: list[str]) -> StoredMessage:
    (id_, parent, role, content, thinking, calls, images, tool_name, call_id, status, error,
     usage, created) = row[:13]
    out = StoredMessage(
        id=id_, parent_id=parent, role=role, content=content, status=status,
        created_at=created, versions=versions,
    )
    if thinking:
        out.thinking = thinking
    if calls:
        out.tool_calls = _tool_calls.decode(calls)
    if images:
        out.images = _strings.decode(images)
    if tool_name:
        out.tool_name = tool_name
    if call_id:
        out.tool_call_id = call_id
    if error:
        out.error = _error.decode(error)
    if usage:
        out.usage = _usage.decode(usage)
    return out


def model_message(message: StoredMessage) -> Message:
    """What the model is sent of a stored message."""
    return Message(
        role=message.role,
        content=message.content,
        thinking=message.thinking,
        images=message.images,
        tool_calls=message.tool_calls,
        tool_name=message.tool_name,
        tool_call_id=message.tool_call_id,
    )


def message_values(message: Message) -> tuple[Any, ...]:
    """role, content, thinking, tool_calls, images, tool_name, tool_call_id of a message."""
    return (
        message.role,
        message.content,
        message.thinking or None,
        json_or_none(message.tool_calls),
        json_or_none(message.images),
        message.tool_name or None,
        message.tool_call_id or None,
    )
