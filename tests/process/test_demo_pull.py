"""`scripts/demo` when Ollama answers but lacks the model (issue 15): with `--pull` it pulls
through the sidecar with a progress report, then chats with the new model; without a terminal
and without `--pull` it never downloads and never waits for an answer. Plus the bar's text."""

from __future__ import annotations

import os
from typing import Any

import trio

from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.pull_bar import Speed, human_bytes, render

from ..support import REPO_ROOT

DEMO_GUARD_S = 120  # the demo creates the venv on a fresh clone


async def run_demo(fake: ScriptedOllama, *args: str) -> Any:
    env = {**os.environ, "OLLAMA_HOST": fake.url}
    env.pop("OLLAMA_MODEL", None)
    with trio.fail_after(DEMO_GUARD_S):
        return await trio.run_process(
            [str(REPO_ROOT / "scripts" / "demo"), *args],
            stdin=b"", capture_stdout=True, capture_stderr=True, env=env, check=False,
        )


async def test_demo_pulls_a_missing_model_with_a_progress_report_then_chats(
    fake_ollama: ScriptedOllama,
) -> None:
    result = await run_demo(fake_ollama, "Hello there", "--model", "fresh", "--pull")
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "has no model fresh" in stderr and "Pulling fresh" in stderr
    assert "[########################] 100%  6.5 MB / 6.5 MB" in stderr
    assert "Hello there" in result.stdout.decode()
    assert [r.path for r in fake_ollama.records if r.path in ("/api/pull", "/api/chat")] == [
        "/api/pull", "/api/chat",
    ]


async def test_demo_without_a_terminal_does_not_pull_and_plays_the_scripted_ollama(
    fake_ollama: ScriptedOllama,
) -> None:
    result = await run_demo(fake_ollama, "Hello there", "--model", "fresh")
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "scripts/demo --pull --model fresh" in stderr and "scripted Ollama" in stderr
    assert not [r for r in fake_ollama.records if r.path == "/api/pull"]


def test_the_bar_shows_percent_bytes_and_speed() -> None:
    speed = Speed()
    speed.update(10.0, 0)
    rate = speed.update(12.0, 3_000_000)
    line = render({"status": "pulling 0123456789ab", "total": 6_000_000, "completed": 3_000_000}, rate)
    assert line == (
        "pulling 0123456789ab         [############------------]  50%  3.0 MB / 6.0 MB  1.5 MB/s"
    )
    assert render({"status": "pulling manifest", "total": 0, "completed": 0}, 0.0) == "pulling manifest"
    assert human_bytes(999) == "999 B"


async def test_demo_on_a_terminal_asks_then_draws_the_bar_in_place(fake_ollama: ScriptedOllama) -> None:
    # A pseudo-terminal for stdin, stdout and stderr: the demo asks, we answer "y".
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url, "TERM": "dumb"}
    env.pop("OLLAMA_MODEL", None)
    process = await trio.lowlevel.open_process(
        [str(REPO_ROOT / "scripts" / "demo"), "Hi", "--model", "asked-model"],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )
    os.close(slave)
    output = b""
    try:
        with trio.fail_after(DEMO_GUARD_S):
            while b"[Y/n]" not in output:
                output += await trio.to_thread.run_sync(os.read, master, 65536)
            os.write(master, b"y\n")
            while b"tokens/s" not in output:
                try:
                    output += await trio.to_thread.run_sync(os.read, master, 65536)
                except OSError:  # EIO: the terminal's last writer exited
                    break
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "Pull asked-model now? [Y/n]" in text
    assert "\r\x1b[2K" in text and "100%  6.5 MB / 6.5 MB" in text  # redrawn in place
    assert "Hi" in text
