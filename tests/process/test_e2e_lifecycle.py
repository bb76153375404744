"""How the real process ends: signals, shutdown, a lost parent, a closed stdout, stdin EOF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import msgspec
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


# Loaded by the sidecar's interpreter at start-up (PYTHONPATH): stray output the way a library
# makes it, at start-up (right after the sidecar claims fd 1, when it sets up logging) and while
# serving (whenever the process opens a TCP connection: the chat's, the status probe's).
STRAY_SITECUSTOMIZE = """
import logging, os, sys
_basic_config = logging.basicConfig
def _noisy_basic_config(*args, **kwargs):
    print("stray print at start-up", flush=True)
    os.write(1, b"stray os.write at start-up\\n")
    return _basic_config(*args, **kwargs)
logging.basicConfig = _noisy_basic_config
def _noisy_connect(event, args):
    if event == "socket.connect":
        print("stray print while serving", flush=True)
        os.write(1, b"stray os.write while serving\\n")
sys.addaudithook(_noisy_connect)
"""


async def test_stray_output_on_fd_1_goes_to_stderr_not_the_protocol(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    (tmp_path / "sitecustomize.py").write_text(STRAY_SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    env.pop("OLLAMA_HOST", None)
    requests = (
        b'{"jsonrpc":"2.0","id":1,"method":"chat","params":{"model":"echo",'
        b'"messages":[{"role":"user","content":"still clean"}]}}\n'
        b'{"jsonrpc":"2.0","id":2,"method":"status"}\n'
    )
    with trio.fail_after(GUARD_S):
        result = await trio.run_process(
            [sys.executable, "-m", "sidecar", *E2E_VARIANTS[variant()](fake_ollama)],
            stdin=requests, capture_stdout=True, capture_stderr=True, env=env,
        )
    assert result.returncode == 0
    lines = result.stdout.split(b"\n")
    assert lines.pop() == b""
    values = [msgspec.json.decode(line) for line in lines]  # every stdout line is JSON
    assert values[0]["method"] == "sidecar:ready"
    by_id = {v["id"]: v for v in values if "method" not in v}
    assert by_id[1]["result"]["messages"][0]["content"] == "still clean"
    assert by_id[2]["result"]["ollama"]["reachable"] is True
    assert b"stray" not in result.stdout
    for text in (b"stray print at start-up\n", b"stray os.write at start-up\n",
                 b"stray print while serving\n", b"stray os.write while serving\n"):
        assert text in result.stderr


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


async def test_scripts_demo_falls_back_to_the_scripted_ollama_and_says_so(tmp_path: Path) -> None:
    data_home = tmp_path / "xdg"
    # Nothing listens on the discard port; the user data folder is a temporary one.
    env = {**os.environ, "OLLAMA_HOST": "127.0.0.1:9", "XDG_DATA_HOME": str(data_home)}
    with trio.fail_after(120):
        result = await trio.run_process(
            [str(REPO_ROOT / "scripts" / "demo"), "Is this thing on?"],
            capture_stdout=True, capture_stderr=True, env=env, check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert b"No Ollama answered at http://127.0.0.1:9" in result.stderr
    assert b"scripted Ollama" in result.stderr
    assert "Is this thing on?".encode() in result.stdout
    assert not (data_home / "ollama-sidecar").exists()  # the demo keeps no conversation


async def test_the_harness_without_a_model_takes_an_installed_one(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        result = await trio.run_process(
            [sys.executable, "-m", "sidecar_testkit.harness", "hi", "--", *E2E_VARIANTS[variant()](fake_ollama)],
            capture_stdout=True, capture_stderr=True,
        )
    assert b"[model text:latest]" in result.stderr
    assert result.stdout == b"The sky looks blue because air scatters blue & violet light more.\n"
