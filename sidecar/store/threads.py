"""Threads as rows: create, list (with full-text search), read a path, rename, delete.

Synchronous functions of an open connection, run on the store's worker thread (see
store/__init__.py). A thread's messages form a tree; `read_path` walks it from the root to the
asked message and on down the newest children, which is what a window shows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Final

from .. import errors
from ..protocol import Message
from ..thread_protocol import StoredMessage, ThreadInfo, ThreadSummary
from . import rows

PREVIEW_CHARS: Final = 160
TITLE_WORDS: Final = 8
TITLE_CHARS: Final = 60


def create_thread(
    conn: sqlite3.Connection,
    title: str | None,
    model: str | None,
    system: str | None,
    messages: Sequence[Message] = (),
) -> ThreadInfo:
    """A new thread; `messages`, if any, stored as its first path (none is a reply in flight)."""
    stamp = rows.now()
    first_user = next((m.content for m in messages if m.role == "user" and m.content.strip()), "")
    info = ThreadInfo(rows.new_id("thr"), title or title_from(first_user), model, system, stamp, stamp)
    conn.execute("BEGIN IMMEDIATE")
    try:
        seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM threads").fetchone()[0]
        conn.execute(
            "INSERT INTO threads (id, seq, title, title_set, model, system, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (info.id, seq, info.title, 1 if title else 0, model, system, stamp, stamp),
        )
        parent: str | None = None
        for message in messages:
            message_id = rows.new_id("msg")
            conn.execute(
                "INSERT INTO messages (id, thread_id, parent_id, role, content, thinking,"
                " tool_calls, images, tool_name, tool_call_id, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'complete', ?)",
                (message_id, info.id, parent, *rows.message_values(message), rows.now()),
            )
            parent = message_id
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return info


def get_info(conn: sqlite3.Connection, thread_id: str) -> ThreadInfo:
    """Raises `RpcError` thread_not_found."""
    row = conn.execute(
        f"SELECT {rows.THREAD_COLUMNS} FROM threads WHERE id = ?", (thread_id,)
    ).fetchone()
    if row is None:
        raise errors.thread_not_found(thread_id)
    return rows.thread_info(row)


def title_from(text: str) -> str:
    """A title from a first message: its first words, on one line."""
    words = text.split()
    title = " ".join(words[:TITLE_WORDS])
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip() + "…"
    elif len(words) > TITLE_WORDS:
        title += "…"
    return title


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word, each as a prefix, quoted (no syntax)."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{w}"*' for w in words) if words else None


def list_threads(
    conn: sqlite3.Connection, limit: int, before: str | None, query: str | None
) -> list[ThreadSummary]:
    where: list[str] = []
    args: list[object] = []
    if before:
        cursor = conn.execute("SELECT updated_at, seq FROM threads WHERE id = ?", (before,)).fetchone()
        if cursor is not None:
            where.append("(t.updated_at < ? OR (t.updated_at = ? AND t.seq < ?))")
            args += [cursor[0], cursor[0], cursor[1]]
        else:
            where.append("t.updated_at < ?")
            args.append(before)
    if query is not None and query.strip():
        match = fts_query(query)
        found = ["t.title LIKE ? ESCAPE '\\'"]
        args.append("%" + re.sub(r"([%_\\])", r"\\\1", query.strip()) + "%")
        if match is not None:
            found.append(
                "t.id IN (SELECT m.thread_id FROM messages_fts f JOIN messages m ON m.seq = f.rowid"
                " WHERE messages_fts MATCH ?)"
            )
            args.append(match)
        where.append("(" + " OR ".join(found) + ")")
    sql = (
        "SELECT t.id, t.title, t.updated_at, t.model,"
        " (SELECT count(*) FROM messages m WHERE m.thread_id = t.id),"
        " (SELECT substr(m.content, 1, ?) FROM messages m WHERE m.thread_id = t.id"
        "  AND m.role IN ('user', 'assistant') AND m.content != '' ORDER BY m.seq DESC LIMIT 1)"
        " FROM threads t"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY t.updated_at DESC, t.seq DESC LIMIT ?"
    )
    out = conn.execute(sql, [PREVIEW_CHARS, *args, limit]).fetchall()
    return [
        ThreadSummary(id_, title, updated, model, count, " ".join((preview or "").split()))
        for id_, title, updated, model, count, preview in out
    ]


def read_tree(conn: sqlite3.Connection, thread_id: str) -> list[tuple[object, ...]]:
    """Every message row of a thread, oldest first."""
    return conn.execute(
        f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? ORDER BY seq",
        (thread_id,),
    ).fetchall()


def read_path(conn: sqlite3.Connection, thread_id: str, leaf: str | None) -> list[StoredMessage]:
    """The messages from the root to `leaf` (default: the newest message), then on down the
    newest child of each, with every message's versions. Raises `RpcError` invalid_params when
    `leaf` is not a message of the thread."""
    tree = read_tree(conn, thread_id)
    by_id = {row[0]: row for row in tree}
    children: dict[object, list[str]] = {}
    for row in tree:
        children.setdefault(row[1], []).append(row[0])  # type: ignore[arg-type]
    if leaf is not None and leaf not in by_id:
        raise errors.invalid_params(f"thread {thread_id!r} has no message {leaf!r}")
    if leaf is None:
        if not tree:
            return []
        leaf = tree[-1][0]  # type: ignore[assignment]
    path: list[str] = []
    node: object = leaf
    while node is not None:
        path.append(node)  # type: ignore[arg-type]
        node = by_id[node][1]
    path.reverse()
    while children.get(path[-1]):
        path.append(children[path[-1]][-1])
    return [rows.stored_message(by_id[m], children[by_id[m][1]]) for m in path]


def latest_leaf(conn: sqlite3.Connection, thread_id: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM messages WHERE thread_id = ? ORDER BY seq DESC LIMIT 1", (thread_id,)
    ).fetchone()
    return None if row is None else row[0]


def rename_thread(conn: sqlite3.Connection, thread_id: str, title: str) -> None:
    cur = conn.execute(
        "UPDATE threads SET title = ?, title_set = 1, updated_at = ? WHERE id = ?",
        (title, rows.now(), thread_id),
    )
    if cur.rowcount == 0:
        raise errors.thread_not_found(thread_id)


def delete_thread(conn: sqlite3.Connection, thread_id: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM messages WHERE thread_id = ?", (thread_id,))
        cur = conn.execute("DELETE FROM threads WHERE id = ?", (thread_id,))
        conn.execute("DELETE FROM leases WHERE thread_id = ?", (thread_id,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if cur.rowcount == 0:
        raise errors.thread_not_found(thread_id)
