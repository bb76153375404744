"""A chat on a thread, as rows: the lease, the new messages, the reply in flight, recovery.

Synchronous functions of an open connection, run on the store's worker thread. `begin_chat`
does everything a chat needs before the model is asked, in one write transaction: it checks the
thread and its lease, takes the lease, stores the new messages under the right parent and gives
the thread its title. The reply is a `streaming` row from its first token on, rewritten by
`update_reply` and ended by `finish_reply`; `release` gives the lease back.

An owner is a process: its pid and start time (procs.py). A lease or a streaming row whose
owner is gone is stale: the lease is taken over, the row marked `interrupted` (`recover` at
start-up, and `recover_thread` whenever a thread is read or begun).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import errors
from ..procs import owner_alive
from ..protocol import Message, Usage
from ..thread_protocol import StoredError, StoredMessage, ThreadInfo
from . import rows
from .threads import get_info, read_path, title_from

Owner = tuple[int, int | None]  # pid, start time


@dataclass
class Begun:
    """What `begin_chat` gives the chat: the thread, the path the model is sent, the ids of
    the stored new messages, and the parent of the reply."""

    thread: ThreadInfo
    path: list[StoredMessage]
    new_ids: list[str] = field(default_factory=list)
    parent_id: str | None = None


def _alive(owner_pid: int | None, owner_start: int | None, me: Owner) -> bool:
    if owner_pid is None:
        return False
    return (owner_pid, owner_start) == me or owner_alive(owner_pid, owner_start)


def recover_thread(conn: sqlite3.Connection, thread_id: str | None, me: Owner) -> None:
    """Marks `interrupted` the streaming replies (of one thread, or all) whose owner is gone,
    and drops leases whose owner is gone. Runs in the caller's transaction, if any."""
    where, args = ("AND thread_id = ?", (thread_id,)) if thread_id is not None else ("", ())
    stale = [
        (seq,)
        for seq, pid, start in conn.execute(
            f"SELECT seq, owner_pid, owner_start FROM messages WHERE status = 'streaming' {where}",
            args,
        ).fetchall()
        if not _alive(pid, start, me)
    ]
    if stale:
        conn.executemany(
            "UPDATE messages SET status = 'interrupted', owner_pid = NULL, owner_start = NULL"
            " WHERE seq = ?",
            stale,
        )
    leases = [
        (tid,)
        for tid, pid, start in conn.execute(
            f"SELECT thread_id, owner_pid, owner_start FROM leases WHERE 1 {where}", args
        ).fetchall()
        if (pid, start) != me and not owner_alive(pid, start)
    ]
    if leases:
        conn.executemany("DELETE FROM leases WHERE thread_id = ?", leases)


def recover(conn: sqlite3.Connection, me: Owner) -> None:
    """At start-up: what dead sidecars left streaming is interrupted, their leases dropped."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        recover_thread(conn, None, me)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _insert(
    conn: sqlite3.Connection,
    thread_id: str,
    parent_id: str | None,
    message: Message,
    status: str = "complete",
    owner: Owner | None = None,
) -> str:
    message_id = rows.new_id("msg")
    conn.execute(
        "INSERT INTO messages (id, thread_id, parent_id, role, content, thinking, tool_calls,"
        " images, tool_name, tool_call_id, status, created_at, owner_pid, owner_start)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message_id, thread_id, parent_id, *rows.message_values(message), status, rows.now(),
            *(owner or (None, None)),
        ),
    )
    return message_id


def begin_chat(
    conn: sqlite3.Connection,
    thread_id: str,
    after: str | None | bool,
    messages: Sequence[Message],
    me: Owner,
) -> Begun:
    """Takes the thread's lease and stores `messages` after `after` (a message id; None: the
    root; True: the newest message). Raises `RpcError`: thread_not_found, thread_busy (a live
    owner elsewhere holds the lease), invalid_params (`after` is not a message of the thread)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        thread = get_info(conn, thread_id)
        recover_thread(conn, thread_id, me)
        lease = conn.execute(
            "SELECT owner_pid, owner_start FROM leases WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        if lease is not None and tuple(lease) != me:
            raise errors.thread_busy(thread_id, elsewhere=True)
        conn.execute(
            "INSERT OR REPLACE INTO leases (thread_id, owner_pid, owner_start, since)"
            " VALUES (?, ?, ?, ?)",
            (thread_id, *me, rows.now()),
        )
        if after is True:
            path = read_path(conn, thread_id, None)
        elif after is None:
            path = []
        else:
            assert isinstance(after, str)
            path = read_path(conn, thread_id, after)
            path = path[: next(i for i, m in enumerate(path) if m.id == after) + 1]
        begun = Begun(thread, path, parent_id=path[-1].id if path else None)
        for message in messages:
            begun.parent_id = _insert(conn, thread_id, begun.parent_id, message)
            begun.new_ids.append(begun.parent_id)
        first_user = next((m for m in messages if m.role == "user" and m.content.strip()), None)
        stamp = rows.now()
        title_row = conn.execute("SELECT title_set FROM threads WHERE id = ?", (thread_id,)).fetchone()
        if first_user is not None and not title_row[0] and not thread.title:
            thread.title = title_from(first_user.content)
            conn.execute("UPDATE threads SET title = ? WHERE id = ?", (thread.title, thread_id))
        conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (stamp, thread_id))
        thread.updated_at = stamp
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return begun


def start_reply(
    conn: sqlite3.Connection, thread_id: str, parent_id: str | None, message: Message, me: Owner
) -> str:
    """The reply's row, `streaming`, owned by this process."""
    return _insert(conn, thread_id, parent_id, message, "streaming", me)


def update_reply(conn: sqlite3.Connection, message_id: str, message: Message) -> None:
    """The reply so far (a commit: it survives the process being killed)."""
    conn.execute(
        "UPDATE messages SET content = ?, thinking = ?, tool_calls = ? WHERE id = ?",
        (message.content, message.thinking or None, rows.json_or_none(message.tool_calls), message_id),
    )


def finish_reply(
    conn: sqlite3.Connection,
    thread_id: str,
    message_id: str,
    message: Message,
    status: str,
    error: StoredError | None,
    usage: Usage | None,
) -> None:
    conn.execute(
        "UPDATE messages SET content = ?, thinking = ?, tool_calls = ?, status = ?, error = ?,"
        " usage = ?, owner_pid = NULL, owner_start = NULL WHERE id = ?",
        (
            message.content, message.thinking or None, rows.json_or_none(message.tool_calls),
            status, rows.json_or_none(error), rows.json_or_none(usage), message_id,
        ),
    )
    conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (rows.now(), thread_id))


def add_message(
    conn: sqlite3.Connection, thread_id: str, parent_id: str | None, message: Message
) -> str:
    """A finished message (a tool result) under `parent_id`."""
    return _insert(conn, thread_id, parent_id, message)


def release(conn: sqlite3.Connection, thread_id: str, me: Owner) -> None:
    conn.execute(
        "DELETE FROM leases WHERE thread_id = ? AND owner_pid = ? AND owner_start IS ?",
        (thread_id, *me),
    )


def leased_elsewhere(conn: sqlite3.Connection, thread_id: str, me: Owner) -> bool:
    """True while another live process holds the thread's lease."""
    lease = conn.execute(
        "SELECT owner_pid, owner_start FROM leases WHERE thread_id = ?", (thread_id,)
    ).fetchone()
    return lease is not None and tuple(lease) != me and owner_alive(*lease)


def set_usage(conn: sqlite3.Connection, message_id: str, usage: Usage) -> None:
    conn.execute("UPDATE messages SET usage = ? WHERE id = ?", (rows.json_or_none(usage), message_id))


def touch(conn: sqlite3.Connection, thread_id: str) -> None:
    conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (rows.now(), thread_id))
