"""Helpers of the conversation tests: a checked sidecar on a data folder, the scripted
upstream's paced replies, and reading the database file the way another program would."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any, Final

import trio

from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.fake_ollama.scenarios import Script, _tokens
from sidecar_testkit.harness import SidecarProcess

from .e2e import checked_sidecar

DB_FILE: Final = "conversations.sqlite3"
POLL_S: Final = 0.02  # how often a test looks at the database file while it waits


@asynccontextmanager
async def stored_sidecar(
    fake: ScriptedOllama, data_dir: Path, *args: str, **kwargs: Any
) -> AsyncIterator[SidecarProcess]:
    async with checked_sidecar("--ollama-url", fake.url, "--data-dir", str(data_dir), *args, **kwargs) as sidecar:
        yield sidecar


def add_paced(fake: ScriptedOllama, name: str = "paced", count: int = 400, pace: float = 0.01) -> list[str]:
    """A scenario `name`: tokens "w1 ", "w2 ", ... `pace` seconds apart. Returns the tokens."""
    tokens = [f"w{i} " for i in range(1, count + 1)]

    def script(request: dict[str, Any]) -> Script:
        writer, lines = _tokens(request, tokens)
        return Script(lines=[*lines, writer.final()], pace=pace)

    fake.scripts[name] = script
    return tokens


async def result(sidecar: SidecarProcess, method: str, params: Any = None) -> Any:
    """A call's `result`; fails the test with the error if it answered one."""
    answer = await sidecar.call(method, params)
    assert "result" in answer, answer
    return answer["result"]


async def error(sidecar: SidecarProcess, method: str, params: Any = None) -> dict[str, Any]:
    answer = await sidecar.call(method, params)
    assert "error" in answer, answer
    return answer["error"]


def query(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of the database file, read by a connection of this test process."""
    with closing(sqlite3.connect(data_dir / DB_FILE, timeout=10)) as conn:
        return conn.execute(sql, args).fetchall()


async def wait_stored(data_dir: Path, message_id: str, content: str) -> None:
    """Returns once the file holds `content` for `message_id` (a condition, not a time)."""
    while query(data_dir, "SELECT content FROM messages WHERE id = ?", message_id) != [(content,)]:
        await trio.sleep(POLL_S)


def streaming_row(data_dir: Path) -> str | None:
    rows = query(data_dir, "SELECT id FROM messages WHERE status = 'streaming'")
    return rows[0][0] if rows else None
