"""Wire types of the conversation methods (create_thread, list_threads, get_thread,
rename_thread, delete_thread, export_thread) and of what a thread's messages look like.

Kept apart from protocol.py (the chat, tools and lifecycle types) so each stays short; the
method table (methods.py) names these as it names the others. Ids are opaque strings.
Timestamps are UTC, ISO 8601 with microseconds (`2026-12-07T12:00:00.123456Z`), so they sort
as text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from .protocol import Message, RequestId, ToolCall, Usage

ThreadId = Annotated[str, Meta(min_length=1)]
MessageStatus = Literal["complete", "interrupted", "failed", "streaming"]
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 1000


class ThreadInfo(Struct):
    id: str
    title: str
    model: str | None
    system: str | None
    created_at: str
    updated_at: str


class ThreadSummary(Struct):
    id: str
    title: str
    updated_at: str
    model: str | None
    message_count: int
    preview: str  # the start of the latest message's text


class StoredError(Struct):
    """Why a stored reply is `failed`: the error's kind and message, as the chat answered."""

    kind: str
    message: str


class StoredMessage(Struct, kw_only=True, omit_defaults=True):
    """One message of a thread. Empty fields are left out, as in chat results."""

    id: str
    parent_id: str | None
    role: str
    content: str
    thinking: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    images: list[str] | UnsetType = UNSET
    tool_name: str | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    status: MessageStatus
    error: StoredError | UnsetType = UNSET
    created_at: str
    usage: Usage | UnsetType = UNSET
    versions: list[str]  # this message and its siblings, oldest first


class StreamingReply(Struct):
    """The reply in flight on a thread (in this sidecar): its text so far."""

    chat_id: RequestId | None
    content: str
    thinking: str


# --- params and results -----------------------------------------------------------------------


class CreateThreadParams(Struct, omit_defaults=True):
    title: str | UnsetType = UNSET
    model: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    system: str | UnsetType = UNSET
    # An extension: messages stored as the thread's first path, with no model asked (importing
    # a conversation kept elsewhere).
    messages: list[Message] = []


class ThreadResult(Struct):
    thread: ThreadInfo


class ListThreadsParams(Struct, omit_defaults=True):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT
    # A thread id (the last of the previous page) or an `updated_at`: older threads only.
    before: str | UnsetType = UNSET
    query: str | UnsetType = UNSET


class ListThreadsResult(Struct):
    threads: list[ThreadSummary]


class GetThreadParams(Struct, omit_defaults=True):
    thread_id: ThreadId
    leaf: str | UnsetType = UNSET


class GetThreadResult(Struct):
    thread: ThreadInfo
    messages: list[StoredMessage]
    streaming: StreamingReply | None


class RenameThreadParams(Struct):
    thread_id: ThreadId
    title: str


class ThreadIdParams(Struct):
    thread_id: ThreadId


class ExportThreadParams(Struct):
    thread_id: ThreadId
    format: Literal["json", "markdown"] = "json"


class ExportThreadResult(Struct):
    content: str
