"""Opening `conversations.sqlite3`: checks, WAL, and the schema's migrations.

The file's schema version is SQLite's `PRAGMA user_version`. Each entry of `MIGRATIONS` takes
the file from version N to N+1 inside one transaction; opening runs the missing ones. A file of
a newer version (written by a newer sidecar), a file that is not a database or fails SQLite's
quick check, and a folder that cannot be created or written to all raise `StoreOpenError` with a
hint; nothing is ever deleted or overwritten to "repair" a file.

Why the tables look as they do:
- `messages` is a tree: `parent_id` NULL is a first message; siblings (same parent) are the
  versions of one turn, ordered by `seq` (creation order). Nothing is ever deleted but a whole
  thread.
- A reply in flight is a row with `status = 'streaming'` and its owner (`owner_pid`,
  `owner_start`), rewritten at least once a second; a later sidecar that finds the owner gone
  marks it `interrupted`.
- `leases` holds one row per thread with a reply in flight, so a second sidecar on the same
  folder refuses that thread (`thread_busy`) until the row is gone or its owner is.
- `messages_fts` (FTS5, external content) indexes message text for `list_threads` `query`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

FILE_NAME: Final = "conversations.sqlite3"
BUSY_TIMEOUT_S: Final = 10.0

MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1
    """
    CREATE TABLE threads (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        title_set INTEGER NOT NULL DEFAULT 0,
        model TEXT,
        system TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX threads_updated ON threads (updated_at, seq);
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        parent_id TEXT,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        thinking TEXT,
        tool_calls TEXT,
        images TEXT,
        tool_name TEXT,
        tool_call_id TEXT,
        status TEXT NOT NULL DEFAULT 'complete',
        error TEXT,
        usage TEXT,
        created_at TEXT NOT NULL,
        owner_pid INTEGER,
        owner_start INTEGER
    );
    CREATE INDEX messages_thread ON messages (thread_id, parent_id, seq);
    CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
    CREATE TABLE leases (
        thread_id TEXT PRIMARY KEY,
        owner_pid INTEGER NOT NULL,
        owner_start INTEGER,
        since TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content, thinking, content='messages', content_rowid='seq'
    );
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content, thinking)
        VALUES (new.seq, new.content, coalesce(new.thinking, ''));
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, thinking)
        VALUES ('delete', old.seq, old.content, coalesce(old.thinking, ''));
    END;
    CREATE TRIGGER messages_au AFTER UPDATE OF content, thinking ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, thinking)
        VALUES ('delete', old.seq, old.content, coalesce(old.thinking, ''));
        INSERT INTO messages_fts (rowid, content, thinking)
        VALUES (new.seq, new.content, coalesce(new.thinking, ''));
    END;
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class StoreOpenError(Exception):
    """The store cannot be used: `message` says why, `hint` what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _no_folder_hint(folder: Path) -> str:
    return (
        f"Pass --data-dir with a folder you can write to, fix the permissions of {folder}, "
        "or run with --no-store to keep no conversations."
    )


def open_database(folder: Path) -> sqlite3.Connection:
    """Creates `folder` if needed and opens its database, migrated to `SCHEMA_VERSION`.

    Raises `StoreOpenError` for a folder that cannot be used, a newer or damaged file.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreOpenError(
            f"cannot create the data folder {folder}: {exc.strerror or exc}", _no_folder_hint(folder)
        ) from None
    path = folder / FILE_NAME
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreOpenError(f"cannot open {path}: {exc}", _no_folder_hint(folder)) from None
    try:
        _prepare(conn, path)
    except StoreOpenError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        text = str(exc)
        if "readonly" in text or "unable to open" in text or "disk I/O" in text:
            raise StoreOpenError(f"cannot write to {path}: {text}", _no_folder_hint(folder)) from None
        raise StoreOpenError(
            f"{path} is not a usable conversations database: {text}",
            "It was left untouched. Move it aside (or restore a backup) and start again, pass "
            "another --data-dir, or run with --no-store.",
        ) from None
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreOpenError(
            f"{path} was written by a newer ollama-sidecar (schema version {version}; this one "
            f"knows up to {SCHEMA_VERSION})",
            "Upgrade ollama-sidecar, pass another --data-dir, or run with --no-store; the file "
            "was left untouched.",
        )
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        # Another program's database (ours set user_version with their first tables).
        raise sqlite3.DatabaseError("it holds another program's tables (no schema version)")
    if version > 0:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
    if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
        raise sqlite3.DatabaseError("the file cannot be put in WAL mode")
    # NORMAL in WAL mode: a commit survives the process being killed (not a power cut).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    for number in range(version, SCHEMA_VERSION):
        # One transaction per step. Two sidecars opening a new folder at once: the second waits
        # for the first's lock, fails on the tables that now exist, and finds the step done.
        script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
        try:
            conn.executescript(script)
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if conn.execute("PRAGMA user_version").fetchone()[0] <= number:
                raise
