"""The conversations the sidecar keeps: SQLite at `--data-dir`, off the event loop.

Why it is built this way: sqlite3 blocks, so every call runs on a worker thread, one at a
time (a `CapacityLimiter(1)` around `trio.to_thread.run_sync`), on one connection opened with
`check_same_thread=False`. A call is never abandoned when its caller is cancelled: a write that
has begun ends (commits or rolls back) before the caller sees the cancellation. The chat's
stream never waits for the store: replies are written by a task beside it (thread_chat.py).

`open_store` is synchronous and runs before the event loop (__main__.py): a folder or file that
cannot be used stops start-up with `StoreOpenError`. The rows and queries are in schema.py
(opening, migrations), threads.py (threads, paths, search) and replies.py (a chat's writes).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import trio

from ..procs import start_time
from . import replies
from .schema import FILE_NAME, SCHEMA_VERSION, StoreOpenError, open_database

__all__ = ["FILE_NAME", "SCHEMA_VERSION", "Store", "StoreOpenError", "open_store"]

P = ParamSpec("P")
T = TypeVar("T")


class Store:
    """One open database and the worker thread's turn-taking."""

    def __init__(self, conn: sqlite3.Connection, folder: Path) -> None:
        self.conn = conn
        self.folder = folder
        pid = os.getpid()
        self.owner: replies.Owner = (pid, start_time(pid))
        self._limiter = trio.CapacityLimiter(1)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` on the worker thread. Cancellation: waits for a call that has
        started to end, then raises."""
        return await trio.to_thread.run_sync(fn, self.conn, *args, limiter=self._limiter)

    def close(self) -> None:
        self.conn.close()


def open_store(folder: Path) -> Store:
    """Opens (creating, migrating) the database in `folder` and recovers what a killed sidecar
    left in flight. Raises `StoreOpenError`."""
    conn = open_database(folder)
    store = Store(conn, folder)
    try:
        replies.recover(conn, store.owner)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreOpenError(
            f"cannot write to {folder / FILE_NAME}: {exc}",
            "Pass --data-dir with a folder you can write to, or run with --no-store.",
        ) from None
    return store
