"""The one-folder PyInstaller binary (scripts/build-sidecar), through the end-to-end checks.

The same checks as tests/test_e2e_chat.py runs on `python -m sidecar`, but spawning the frozen
executable: what a Tauri or Electron app ships. The binary is built once per session, or reused
when the build's stamp says it is fresh (a first build takes about half a minute here).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from sidecar import __version__
from sidecar.protocol import PROTOCOL_VERSION
from sidecar_testkit.fake_ollama import ScriptedOllama

from . import e2e
from .e2e import GUARD_S, TEXT_REPLY, chat_params, sidecar_for

from ..support import REPO_ROOT

@pytest.fixture
def binary(frozen_binary: Path) -> list[str]:
    return [str(frozen_binary)]


def _expected_name() -> str:
    """ollama-sidecar-<rustc's host triple>, as Tauri's externalBin looks it up."""
    if shutil.which("rustc") is None:  # then the triple comes from the platform
        machine = platform.machine().lower()
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        return f"ollama-sidecar-{arch}-" + {
            "linux": "unknown-linux-gnu", "darwin": "apple-darwin", "win32": "pc-windows-msvc",
        }[sys.platform]
    info = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return "ollama-sidecar-" + next(
        line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("host:")
    )


def test_the_build_is_one_folder_named_for_tauri(frozen_binary: Path) -> None:
    assert frozen_binary.stem == _expected_name()
    assert frozen_binary.parent.name == frozen_binary.stem
    assert (frozen_binary.parent / "ollama-sidecar-internal").is_dir()  # one folder, not one file
    assert (frozen_binary.parent / "ollama-sidecar-internal" / "certifi" / "cacert.pem").is_file()


async def test_version_and_schema_match_the_python_entry(binary: list[str]) -> None:
    with trio.fail_after(GUARD_S):
        version = await trio.run_process([*binary, "--version"], capture_stdout=True)
        schema = await trio.run_process([*binary, "--print-schema"], capture_stdout=True)
        python_schema = await trio.run_process(
            [sys.executable, "-m", "sidecar", "--print-schema"], capture_stdout=True
        )
    assert version.stdout == f"ollama-sidecar {__version__} (protocol {PROTOCOL_VERSION})\n".encode()
    # sidecar.schema is imported lazily: the whole package must be in the binary.
    assert schema.stdout == python_schema.stdout
    assert schema.stdout.startswith(b"{")


async def test_ready_is_the_first_line_and_its_pid_is_the_spawned_process(
    fake_ollama: ScriptedOllama, binary: list[str]
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, command=binary) as frozen:
            first = frozen.lines[0].value
        async with sidecar_for(fake_ollama) as python:
            python_ready = python.lines[0].value
    assert first["method"] == "sidecar:ready"
    params = first["params"]
    assert (params["name"], params["version"], params["protocol"]) == (
        "ollama-sidecar", __version__, 1,
    )
    assert params["ollama_url"] == fake_ollama.url
    # One process: with --onefile this would be a child of the process the shell spawned.
    assert params["pid"] == frozen.process.pid
    assert {**params, "pid": None} == {**python_ready["params"], "pid": None}


@pytest.mark.parametrize("variant", list(e2e.E2E_VARIANTS))
async def test_a_reply_streams_while_the_upstream_is_still_sending(
    fake_ollama: ScriptedOllama, binary: list[str], variant: str
) -> None:
    """Once per way the Python entry is tested (providers, stdio paths): their modules are in."""
    token = e2e.CURRENT_VARIANT.set(variant)
    fake_ollama.pause_after = 2
    try:
        with trio.fail_after(GUARD_S):
            async with sidecar_for(fake_ollama, command=binary) as sidecar:
                chat = await sidecar.request("chat", chat_params("text"))
                record = await fake_ollama.wait_paused()
                await sidecar.wait_for(lambda l: sidecar.text(chat) == "The sky")
                assert record.finished_at is None  # the upstream has not finished: no buffering
                fake_ollama.release()
                response = await sidecar.response(chat)
    finally:
        e2e.CURRENT_VARIANT.reset(token)
    assert sidecar.text(chat) == TEXT_REPLY
    assert response["result"]["done_reason"] == "stop"
    assert response["result"]["messages"] == [{"role": "assistant", "content": TEXT_REPLY}]


async def test_status_and_list_models_reach_the_upstream(
    fake_ollama: ScriptedOllama, binary: list[str]
) -> None:
    """The provider clients are imported on first use: the binary must carry them."""
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, command=binary) as sidecar:
            status = (await sidecar.call("status"))["result"]
            models = (await sidecar.call("list_models"))["result"]["models"]
    assert status["ollama"] == {"reachable": True, "version": "0.33.0-scripted", "error": None}
    assert "text:latest" in [m["name"] for m in models]


async def test_cancel_mid_stream_keeps_the_partial_text_and_disconnects_upstream(
    fake_ollama: ScriptedOllama, binary: list[str]
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, command=binary) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            record = await fake_ollama.wait_for_request(path="/api/chat")
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            cancel = await sidecar.call("cancel_chat", {"chat_id": chat})
            await record.disconnected.wait()
    chat_response = await sidecar.response(chat)
    order = [line.value for line in sidecar.lines]
    assert order.index(chat_response) < order.index(cancel)  # the chat's answer comes first
    assert cancel["result"] == {"cancelled": [chat]}
    assert chat_response["result"]["done_reason"] == "cancelled"
    assert chat_response["result"]["messages"] == [
        {"role": "assistant", "content": "Thinking hard"}
    ]
    assert record.client_disconnected


async def test_eof_lets_the_chat_in_flight_finish_then_exits_0(
    fake_ollama: ScriptedOllama, binary: list[str]
) -> None:
    fake_ollama.pause_after = 3
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, command=binary) as sidecar:
            chat = await sidecar.request("chat", chat_params("text"))
            await fake_ollama.wait_paused()
            await sidecar.close_stdin()
            fake_ollama.release()
            code = await sidecar.wait_exit()
    assert code == 0
    assert sidecar.lines[-1].value["id"] == chat
    assert sidecar.lines[-1].value["result"]["messages"][0]["content"] == TEXT_REPLY
    assert b"Traceback" not in sidecar.stderr


def test_the_start_up_benchmark_of_the_binary_runs(frozen_binary: Path) -> None:
    """`scripts/bench --frozen` (the figure in docs/benchmarks.md) on this build, one round."""
    completed = subprocess.run(
        [str(REPO_ROOT / "scripts" / "bench"), "--frozen", str(frozen_binary), "--runs", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| F |")]
    for what in ("frozen binary: spawn -> sidecar:ready read",
                 "python -m sidecar: spawn -> first status answer read",
                 "frozen / python (first status answer read)"):
        row = next(r for r in rows if what in r)
        assert float(row.split("|")[3].replace(",", "")) > 0, row


def test_the_binary_carries_nothing_it_never_uses(frozen_binary: Path) -> None:
    """No setuptools/pkg_resources (their runtime hooks ran on every launch), no HTTP library,
    no crypto library beyond the ssl module's own OpenSSL, no cffi off Windows."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(frozen_binary))
    scripts = list(archive.toc)
    modules = list(archive.open_embedded_archive("PYZ.pyz").toc)
    unused = {"setuptools", "pkg_resources", "_distutils_hack", "distutils", "httpx", "httpcore",
              "h11", "cryptography", "OpenSSL", "sidecar_testkit"}
    if sys.platform != "win32":
        unused |= {"cffi", "pycparser"}
    assert "sidecar.providers.body" in modules and "trio" in modules
    mcp = "mcp" in modules
    if mcp:
        # The MCP SDK (--mcp-config, imported lazily after sidecar:ready) uses these: it imports
        # cryptography (which needs cffi's backend) when it loads, and its HTTP stack (httpcore2)
        # speaks HTTP/1.1 with h11.
        unused -= {"h11", "cryptography", "cffi", "pycparser"}
    assert not [m for m in modules if m.split(".")[0] in unused]
    assert not [s for s in scripts if s in ("pyi_rth_pkgres", "pyi_rth_setuptools")]
    folder = [p.name for p in frozen_binary.parent.rglob("*")]
    never = ("setuptools",) if mcp else ("_cffi_backend", "setuptools", "cryptography")
    assert not [n for n in folder if n.startswith(never)]


async def test_mcp_servers_work_in_the_frozen_binary(
    fake_ollama: ScriptedOllama, binary: list[str], tmp_path: Path
) -> None:
    """The `mcp` SDK is imported lazily (after sidecar:ready): it must be in the binary too."""
    from .mcp import McpSetup, ready
    from .test_e2e_tools import call, tool_chat

    setup = McpSetup(tmp_path).faults("f", autoApprove=["ok"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args(), command=binary) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__ok", text="frozen")], tools=True))
            await sidecar.response(chat)
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert (result["server"], result["content"], result["is_error"]) == ("f", "ok: frozen", False)
