"""Storing conversations (9): the throughput reply of section 1 streamed into a stored thread,
next to the same reply with `--no-store` (issue 17).

With the store on, the chat names a `thread_id`: the user message is stored before the model
is asked and the reply is written to SQLite at least once a second while it streams (off the
event loop). The target: the stored chat keeps at least 95% of the `--no-store` throughput.
Both runs check every token, and the stored run that the thread holds the whole reply.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from .rig import BenchFailure, open_rig, start_sidecar
from .streaming import THROUGHPUT_PREFIX, _fast, _text, _throughput
from .upstream import BenchOllama, chat_params

TAG = "throughput"


async def throughput(fake: BenchOllama, count: int, stored: bool) -> dict[str, Any]:
    fake.reset()
    fake.expect(TAG, _fast(THROUGHPUT_PREFIX, count))
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-store-") as folder:
        args = ["--data-dir", folder] if stored else ["--no-store"]
        name = "sidecar (store on)" if stored else "sidecar (--no-store)"
        async with open_rig(name) as rig:
            await start_sidecar(rig, fake.url, sidecar_args=args)
            params = chat_params(TAG)
            if stored:
                created, _ = await rig.send("create_thread", {})
                _, answer = await rig.result(created)
                params["thread_id"] = answer["thread"]["id"]
            chat, _ = await rig.send("chat", params)
            result = await _throughput(fake, rig, count, chat, TAG, sidecar=True)
        if stored:
            with closing(sqlite3.connect(Path(folder) / "conversations.sqlite3")) as conn:
                kept = conn.execute(
                    "SELECT content, status FROM messages WHERE role = 'assistant'"
                ).fetchall()
            if kept != [(_text(THROUGHPUT_PREFIX, count), "complete")]:
                raise BenchFailure("store: the thread does not hold the whole reply, complete")
    return result
