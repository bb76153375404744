"""The handlers of the conversation methods: create_thread, list_threads, get_thread,
rename_thread, delete_thread, export_thread. Their rows are in the method table (methods.py);
their queries in store/; a chat on a thread is thread_chat.py's.

Each query runs on the store's worker thread. `get_thread` reads the stored path, then, with no
checkpoint before its answer is queued, adds the text of a reply in flight in this sidecar: the
`chat:token` lines after the answer continue exactly where `streaming.content` ends.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import msgspec

from . import errors
from .store import export, replies, threads
from .thread_protocol import (
    CreateThreadParams,
    ExportThreadParams,
    ExportThreadResult,
    GetThreadParams,
    GetThreadResult,
    ListThreadsParams,
    ListThreadsResult,
    RenameThreadParams,
    StoredMessage,
    ThreadIdParams,
    ThreadInfo,
    ThreadResult,
)

from .protocol import EmptyResult

if TYPE_CHECKING:
    from .server import Handle, Server


def _opt(value: object) -> str | None:
    return None if value is msgspec.UNSET else value  # type: ignore[return-value]


async def create_thread(server: Server, handle: Handle, params: CreateThreadParams) -> ThreadResult:
    store = server.require_store("create_thread")
    info = await store.run(
        threads.create_thread, _opt(params.title), _opt(params.model), _opt(params.system),
        params.messages,
    )
    return ThreadResult(info)


async def list_threads(
    server: Server, handle: Handle, params: ListThreadsParams
) -> ListThreadsResult:
    store = server.require_store("list_threads")
    found = await store.run(
        threads.list_threads, params.limit, _opt(params.before), _opt(params.query)
    )
    return ListThreadsResult(found)


def _read(
    conn: sqlite3.Connection, thread_id: str, leaf: str | None, me: replies.Owner
) -> tuple[ThreadInfo, list[StoredMessage]]:
    info = threads.get_info(conn, thread_id)
    replies.recover_thread(conn, thread_id, me)  # a dead sidecar's reply reads as interrupted
    return info, threads.read_path(conn, thread_id, leaf)


async def get_thread(server: Server, handle: Handle, params: GetThreadParams) -> GetThreadResult:
    store = server.require_store("get_thread")
    info, messages = await store.run(_read, params.thread_id, _opt(params.leaf), store.owner)
    running = server.thread_chats.get(params.thread_id)
    streaming = None
    if running is not None and running.thread is not None:
        streaming = running.thread.streaming(messages)
    return GetThreadResult(info, messages, streaming)


async def rename_thread(server: Server, handle: Handle, params: RenameThreadParams) -> EmptyResult:
    store = server.require_store("rename_thread")
    await store.run(threads.rename_thread, params.thread_id, params.title.strip())
    return EmptyResult()


def _delete(conn: sqlite3.Connection, thread_id: str, me: replies.Owner) -> None:
    threads.get_info(conn, thread_id)
    if replies.leased_elsewhere(conn, thread_id, me):
        raise errors.thread_busy(thread_id, elsewhere=True)
    threads.delete_thread(conn, thread_id)


async def delete_thread(server: Server, handle: Handle, params: ThreadIdParams) -> EmptyResult:
    store = server.require_store("delete_thread")
    if params.thread_id in server.thread_chats:
        raise errors.thread_busy(params.thread_id, elsewhere=False)
    await store.run(_delete, params.thread_id, store.owner)
    return EmptyResult()


async def export_thread(
    server: Server, handle: Handle, params: ExportThreadParams
) -> ExportThreadResult:
    store = server.require_store("export_thread")
    info, messages = await store.run(_read, params.thread_id, None, store.owner)
    running = server.thread_chats.get(params.thread_id)
    if running is not None and running.thread is not None:
        running.thread.streaming(messages)
    if params.format == "markdown":
        return ExportThreadResult(export.export_markdown(info, messages))
    return ExportThreadResult(export.export_json(info, messages))
