"""What the conversations survive: a SIGKILL mid-reply (the reply kept up to its last flush,
the file intact, the next sidecar marking it interrupted), two sidecars on one data folder
(thread_busy while the other answers, taken over once that process is gone), and files or
folders that cannot be used (exit status 2, a hint, nothing overwritten)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import trio

from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.harness import sidecar_command

from ..support import GUARD_S, user
from .threads_support import DB_FILE, add_paced, error, query, result, stored_sidecar, streaming_row, wait_stored


async def test_sigkill_mid_reply_keeps_the_reply_and_the_file(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    add_paced(fake_ollama, count=400, pace=0.005)
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "paced"}))["thread"]["id"]
            fake_ollama.pause_after = 120  # the upstream stops sending, the reply still open
            chat = await sidecar.request("chat", {"thread_id": tid, "messages": user("count")})
            await fake_ollama.wait_paused()
            received = "".join(f"w{i} " for i in range(1, 121))
            await sidecar.wait_for(lambda line: sidecar.text(chat) == received)
            reply_id = query(data_dir, "SELECT id FROM messages WHERE role = 'assistant'")[0][0]
            await wait_stored(data_dir, reply_id, received)  # the flush, within a second
            sidecar.process.kill()
            assert await sidecar.process.wait() == -signal.SIGKILL
        fake_ollama.pause_after = None
        with closing(sqlite3.connect(data_dir / DB_FILE)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("SELECT status FROM messages WHERE id = ?", (reply_id,)).fetchall() == [("streaming",)]
        async with stored_sidecar(fake_ollama, data_dir) as again:
            got = await result(again, "get_thread", {"thread_id": tid})
            fake_ollama.scripts["paced"] = fake_ollama.scripts["echo"]
            retry = await result(again, "chat", {"thread_id": tid, "messages": user("go on")})
    assert [(m["role"], m["status"], m["content"]) for m in got["messages"]] == [
        ("user", "complete", "count"),
        ("assistant", "interrupted", received),
    ]
    assert got["streaming"] is None
    assert retry["messages"][0]["content"] == "go on"


async def test_two_sidecars_on_one_folder_take_turns_on_a_thread(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    add_paced(fake_ollama)
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as first, stored_sidecar(fake_ollama, data_dir) as second:
            tid = (await result(first, "create_thread", {"model": "paced"}))["thread"]["id"]
            fake_ollama.pause_after = 2
            chat = await first.request("chat", {"thread_id": tid, "messages": user("hold")})
            await fake_ollama.wait_paused()
            busy = await error(second, "chat", {"thread_id": tid, "messages": user("me too")})
            seen = await result(second, "get_thread", {"thread_id": tid})
            listed = await result(second, "list_threads")
            fake_ollama.pause_after = None
            await first.response(chat)
            fake_ollama.scripts["paced"] = fake_ollama.scripts["echo"]
            turn = await result(second, "chat", {"thread_id": tid, "messages": user("my turn")})
            # Killed with a reply in flight, the first leaves a lease the second takes over.
            fake_ollama.scripts["paced"] = fake_ollama.scripts["hang"]
            stuck = await first.request("chat", {"thread_id": tid, "messages": user("stuck"), "model": "paced"})
            await first.wait_for(lambda line: first.text(stuck) == "Thinking hard")
            refused = await error(second, "chat", {"thread_id": tid, "messages": user("no")})
            stuck_id = streaming_row(data_dir)
            assert stuck_id is not None
            await wait_stored(data_dir, stuck_id, "Thinking hard")
            first.process.kill()
            await first.process.wait()
            taken = await result(second, "chat", {"thread_id": tid, "messages": user("mine"), "model": "echo"})
            final = await result(second, "get_thread", {"thread_id": tid})
    assert (busy["code"], busy["data"]["kind"]) == (-32006, "thread_busy")
    assert refused["data"]["kind"] == "thread_busy"
    assert seen["messages"][-1]["status"] == "streaming" and seen["streaming"] is None
    assert [t["id"] for t in listed["threads"]] == [tid]
    assert turn["messages"][0]["content"] == "my turn"
    assert taken["messages"][0]["content"] == "mine"
    assert [(m["content"], m["status"]) for m in final["messages"][-4:]] == [
        ("stuck", "complete"), ("Thinking hard", "interrupted"), ("mine", "complete"), ("mine", "complete"),
    ]


def start(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A sidecar that should not get past opening its store."""
    return subprocess.run(
        [*sidecar_command(), "--data-dir", str(data_dir)],
        input="", capture_output=True, text=True, timeout=GUARD_S,
    )


def test_a_file_of_a_newer_schema_stops_start_up_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    with closing(sqlite3.connect(data_dir / DB_FILE)) as conn:
        conn.execute("PRAGMA user_version = 99")
    before = (data_dir / DB_FILE).read_bytes()
    done = start(data_dir)
    assert done.returncode == 2 and done.stdout == ""
    assert "newer ollama-sidecar" in done.stderr and "hint: Upgrade ollama-sidecar" in done.stderr
    assert (data_dir / DB_FILE).read_bytes() == before


def test_a_corrupt_file_stops_start_up_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / DB_FILE).write_bytes(b"this is not a database at all" * 100)
    before = (data_dir / DB_FILE).read_bytes()
    done = start(data_dir)
    assert done.returncode == 2 and done.stdout == ""
    assert "not a usable conversations database" in done.stderr and "hint:" in done.stderr
    assert (data_dir / DB_FILE).read_bytes() == before
    assert sorted(p.name for p in data_dir.iterdir()) == [DB_FILE]


def test_another_programs_database_stops_start_up_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    with closing(sqlite3.connect(data_dir / DB_FILE)) as conn:
        conn.execute("CREATE TABLE threads (name TEXT)")
        conn.execute("INSERT INTO threads VALUES ('theirs')")
        conn.commit()
    before = (data_dir / DB_FILE).read_bytes()
    done = start(data_dir)
    assert done.returncode == 2 and done.stdout == ""
    assert "not a usable conversations database" in done.stderr and "untouched" in done.stderr
    assert (data_dir / DB_FILE).read_bytes() == before
    assert sorted(p.name for p in data_dir.iterdir()) == [DB_FILE]


def test_a_folder_that_cannot_be_made_stops_start_up(tmp_path: Path) -> None:
    # A file where a folder should be: refused even for root, who may write anywhere else.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    done = start(blocker / "data")
    assert done.returncode == 2 and done.stdout == ""
    assert "cannot create the data folder" in done.stderr and "--no-store" in done.stderr
    assert blocker.read_text() == "a file"
