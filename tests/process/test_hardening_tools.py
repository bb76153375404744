"""Tools never open what they refuse, on the real process (issue 11, item 3).

`search_files` walks the root checking each entry's type with an `lstat` first: a FIFO is never
opened, so a writer blocked on it stays blocked. And the decision for hardlinks, pinned: a
hardlink inside the root to a file outside it is read (it is one of that file's names, inside
the root; see docs/protocol.md, Tools).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from .e2e import GUARD_S, checked_sidecar


def tool_chat(name: str, **arguments: Any) -> dict[str, Any]:
    """A chat on the scripted `tools` scenario: the model calls `name(arguments)` once."""
    content = json.dumps({"calls": [{"name": name, "arguments": arguments}]})
    return {"model": "tools", "tools": True, "messages": [{"role": "user", "content": content}]}


class BlockedWriter:
    """A thread blocked opening a FIFO for writing, as a process feeding it would be.

    `opened_early` tells whether something other than `release()` opened the FIFO for reading.
    """

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.releasing = False
        self.opened_early: bool | None = None
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        fd = os.open(self.fifo, os.O_WRONLY)  # blocks until a reader opens the FIFO
        self.opened_early = not self.releasing
        os.close(fd)

    def release(self) -> None:
        self.releasing = True
        reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.thread.join(timeout=GUARD_S)
        os.close(reader)


async def test_search_files_skips_a_fifo_without_opening_it(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "notes.txt").write_text("a needle in the notes\n")
    os.mkfifo(root / "pipe.txt")
    writer = BlockedWriter(root / "pipe.txt")
    try:
        with trio.fail_after(GUARD_S):
            async with checked_sidecar("--ollama-url", fake_ollama.url, "--root", str(root)) as sidecar:
                chat = await sidecar.request("chat", tool_chat("search_files", query="needle"))
                response = await sidecar.response(chat)
    finally:
        writer.release()
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert result["content"] == "notes.txt:1: a needle in the notes" and not result["is_error"]
    assert response["result"]["done_reason"] == "stop"
    assert writer.opened_early is False, "search_files opened the FIFO"


async def test_a_hardlink_inside_the_root_is_read_as_the_file_it_names(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("linked text\n")
    os.link(outside, root / "linked.txt")
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--ollama-url", fake_ollama.url, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat("read_file", path="linked.txt"))
            await sidecar.response(chat)
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert result == {
        "chat_id": chat, "call_id": result["call_id"], "name": "read_file",
        "content": "linked text\n", "is_error": False,
    }
