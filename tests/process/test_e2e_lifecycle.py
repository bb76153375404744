"""How the real process ends: signals, shutdown, a lost parent, a closed stdout, stdin EOF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from .e2e import E2E_VARIANTS, GUARD_S, chat_params, sidecar_for, variant

from ..support import REPO_ROOT



@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_cancels_chats_answers_them_and_exits_0(
    fake_ollama: ScriptedOllama, signum: int
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            sidecar.send_signal(signum)
            code = await sidecar.wait_exit()
            await fake_ollama.chat_records[0].disconnected.wait()
    assert code == 0
    last = sidecar.lines[-1].value
    assert last["id"] == chat and last["result"]["done_reason"] == "cancelled"
    assert last["result"]["messages"] == [{"role": "assistant", "content": "Thinking hard"}]


async def test_a_signal_repeated_while_the_sidecar_stops_changes_nothing(fake_ollama: ScriptedOllama) -> None:
    # A host (or a user at Ctrl+C) that signals again while the sidecar is stopping must not
    # turn its exit 0 into a kill, or lose the cancelled chat's answer.
    exited = trio.Event()

    async def keep_signalling() -> None:
        for _ in range(200):  # bounded: 2 s at most
            if exited.is_set():
                return
            with suppress(ProcessLookupError):
                sidecar.send_signal(signal.SIGTERM)
            await trio.sleep(0.01)

    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_signalling)
                code = await sidecar.wait_exit()
                exited.set()
    assert code == 0
    last = sidecar.lines[-1].value
    assert last["id"] == chat and last["result"]["done_reason"] == "cancelled"


async def test_shutdown_cancels_chats_answers_and_exits_0(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            shutdown = await sidecar.request("shutdown")
            code = await sidecar.wait_exit()
    answers = sidecar.responses()
    assert code == 0
    assert [a["id"] for a in answers] == [chat, shutdown]
    assert answers[0]["result"]["done_reason"] == "cancelled"
    assert answers[1]["result"] == {}
    assert fake_ollama.chat_records[0].client_disconnected


async def test_the_sidecar_exits_when_its_parent_is_gone(fake_ollama: ScriptedOllama) -> None:
    parent = await trio.lowlevel.open_process([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with trio.fail_after(GUARD_S):
            async with sidecar_for(fake_ollama, "--parent-pid", str(parent.pid)) as sidecar:
                chat = await sidecar.request("chat", chat_params("hang"))
                await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
                parent.kill()  # left unreaped: a zombie counts as gone
                code = await sidecar.wait_exit()
    finally:
        parent.kill()
        await parent.wait()
    assert code == 0
    assert sidecar.lines[-1].value["result"]["done_reason"] == "cancelled"


async def test_a_closed_stdout_stops_the_chat_and_exits(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.pause_after = 1
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            await sidecar.request("chat", chat_params("long", options={"num_predict": 100000}))
            record = await fake_ollama.wait_paused()
            assert sidecar.process.stdout is not None
            await sidecar.process.stdout.aclose()
            fake_ollama.release()
            await record.disconnected.wait()
            code = await sidecar.process.wait()
    assert code == 0
    assert record.lines_sent < 100000


async def test_stray_output_on_fd_1_goes_to_stderr_not_the_protocol() -> None:
    script = (
        "import os, sys\n"
        "from sidecar.stdio import claim_stdout\n"
        "fd = claim_stdout()\n"
        "print('stray banner', flush=True)\n"
        "os.write(1, b'stray write\\n')\n"
        "os.write(fd, b'{\"protocol\":1}\\n')\n"
    )
    with trio.fail_after(GUARD_S):
        result = await trio.run_process(
            [sys.executable, "-c", script], capture_stdout=True, capture_stderr=True
        )
    assert result.stdout == b'{"protocol":1}\n'
    assert b"stray banner\n" in result.stderr and b"stray write\n" in result.stderr


async def test_eof_drain_timeout_cancels_what_is_left(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--drain-timeout", "0.3") as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            await sidecar.close_stdin()
            code = await sidecar.wait_exit()
    assert code == 0
    assert sidecar.lines[-1].value["result"]["done_reason"] == "cancelled"


async def test_the_harness_cli_streams_a_reply_and_ctrl_c_cancels(fake_ollama: ScriptedOllama) -> None:
    command = [sys.executable, "-m", "sidecar_testkit.harness"]
    upstream = ["--", *E2E_VARIANTS[variant()](fake_ollama)]
    with trio.fail_after(GUARD_S):
        done = await trio.run_process(
            [*command, "--model", "echo", "hello from the harness", *upstream],
            capture_stdout=True, capture_stderr=True,
        )
        assert b"hello from the harness" in done.stdout
        assert b"[stop:" in done.stderr

        process = await trio.lowlevel.open_process(
            [*command, "--model", "hang", "hi", *upstream],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        await fake_ollama.wait_for_chat(count=2)
        output = b""
        assert process.stdout is not None
        while b"Thinking hard" not in output:
            output += await process.stdout.receive_some()
        process.send_signal(signal.SIGINT)
        while chunk := await process.stdout.receive_some():
            output += chunk
        assert await process.wait() == 0
        await process.stdout.aclose()
        assert process.stderr is not None
        await process.stderr.aclose()
    assert b"cancel_chat sent" in output
    assert fake_ollama.chat_records[1].client_disconnected


async def test_scripts_demo_falls_back_to_the_scripted_ollama_and_says_so() -> None:
    env = {**os.environ, "OLLAMA_HOST": "127.0.0.1:9"}  # nothing listens on the discard port
    with trio.fail_after(120):
        result = await trio.run_process(
            [str(REPO_ROOT / "scripts" / "demo"), "Is this thing on?"],
            capture_stdout=True, capture_stderr=True, env=env, check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert b"No Ollama answered at http://127.0.0.1:9" in result.stderr
    assert b"scripted Ollama" in result.stderr
    assert "Is this thing on?".encode() in result.stdout


async def test_the_harness_without_a_model_takes_an_installed_one(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        result = await trio.run_process(
            [sys.executable, "-m", "sidecar_testkit.harness", "hi", "--", *E2E_VARIANTS[variant()](fake_ollama)],
            capture_stdout=True, capture_stderr=True,
        )
    assert b"[model text:latest]" in result.stderr
    assert result.stdout == b"The sky looks blue because air scatters blue & violet light more.\n"
