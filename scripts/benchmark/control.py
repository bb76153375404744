"""Measurements of requests rather than streams: chats in a row (request overhead, 3, and RSS, 6),
cancel latency (4) and start-up (5). One function is one run against fresh processes.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import trio

from .rig import BenchFailure, child_env, check_text, open_rig, sidecar_command, start_sidecar
from .streaming import latency_stats
from .upstream import BenchOllama, chat_params, expected_text, fast, hanging

SHORT_TOKENS = 20
IDLE_SETTLE_S = 0.5


# --- 3 and 6: chats in a row -------------------------------------------------------------------


async def chats_in_a_row(fake: BenchOllama, warmup: int, count: int) -> dict[str, Any]:
    """RSS idle, after `warmup` chats and after `count` more; per chat, the request overhead.

    Each chat is a 20-token reply whose first line goes out in its own write. Overhead:
    `chat` written -> the upstream has the request; first upstream write -> first token read.
    """
    fake.reset()
    total = warmup + count
    prefixes = [f"m{i:04d}-" for i in range(total)]
    for i, prefix in enumerate(prefixes):  # rendered before any timing
        fake.expect(f"row-{i}", fast(prefix, SHORT_TOKENS))
    to_upstream: list[float] = []
    to_first_token: list[float] = []
    chats: list[tuple[Any, dict[str, Any]]] = []
    async with open_rig("sidecar (chats in a row)") as rig:
        await start_sidecar(rig, fake.url)
        await trio.sleep(IDLE_SETTLE_S)
        idle = warm = rig.rss_kib()
        for i in range(total):
            if i == warmup:
                await trio.sleep(IDLE_SETTLE_S)
                warm = rig.rss_kib()
            chat, written = await rig.send("chat", chat_params(f"row-{i}"))
            _, result = await rig.result(chat)
            chats.append((chat, result))
            script = fake.played[f"row-{i}"]
            assert script.record is not None
            if i >= warmup:
                to_upstream.append(script.record.received_at - written)
                to_first_token.append(rig.firsts[chat] - script.stamps[0])
        await trio.sleep(IDLE_SETTLE_S)
        after = rig.rss_kib()
        await rig.finish()
    for (chat, result), prefix in zip(chats, prefixes):
        text, _ = rig.chat_log(chat)
        check_text(f"chat {chat!r} of the chats in a row", text, expected_text(prefix, SHORT_TOKENS))
        if result["messages"][0]["content"] != text:
            raise BenchFailure(f"chat {chat!r}: the result differs from its streamed tokens")
    connections = {r.connection for r in fake.chat_records}
    return {
        "chats": count, "warmup_chats": warmup, "upstream_connections": len(connections),
        "rss_idle_kib": idle, "rss_warm_kib": warm, "rss_after_kib": after,
        "growth_kib": after - warm, "growth_from_idle_kib": after - idle,
        "request_to_upstream": latency_stats(to_upstream),
        "first_byte_to_first_token": latency_stats(to_first_token),
    }


# --- 4. cancel latency ---------------------------------------------------------------------------


async def cancels(fake: BenchOllama, count: int) -> dict[str, Any]:
    """`count` times: a chat on an upstream that sent 2 tokens and hangs, then `cancel_chat`.

    Measured from just before the `cancel_chat` write to the chat's response read by the reader,
    and to the moment the upstream saw the connection close.
    """
    fake.reset()
    for i in range(count):
        fake.expect(f"hang-{i}", hanging(f"x{i:03d}-", 2))
    to_response: list[float] = []
    to_disconnect: list[float] = []
    outcomes: list[tuple[Any, str, dict[str, Any]]] = []
    async with open_rig("sidecar (cancels)") as rig:
        await start_sidecar(rig, fake.url)
        for i in range(count):
            chat, _ = await rig.send("chat", chat_params(f"hang-{i}"))
            await rig.first_token(chat)
            cancel, written = await rig.send("cancel_chat", {"chat_id": chat})
            answered, result = await rig.result(chat)
            _, cancelled = await rig.result(cancel)
            record = fake.played[f"hang-{i}"].record
            assert record is not None
            with trio.move_on_after(5.0):
                await record.disconnected.wait()
            if record.disconnected_at is None:
                raise BenchFailure(f"cancel {i}: the upstream never saw the disconnect")
            if cancelled != {"cancelled": [chat]} or result["done_reason"] != "cancelled":
                raise BenchFailure(f"cancel {i}: unexpected answers {result!r} / {cancelled!r}")
            to_response.append(answered - written)
            to_disconnect.append(record.disconnected_at - written)
            outcomes.append((chat, f"x{i:03d}-", result))
        await rig.finish()
    for chat, prefix, result in outcomes:
        text, _ = rig.chat_log(chat)
        if not text or not expected_text(prefix, 2).startswith(text):
            raise BenchFailure(f"cancelled chat {chat!r}: unexpected tokens {text!r}")
        if result["messages"][0]["content"] != text:
            raise BenchFailure(f"cancelled chat {chat!r}: partial reply differs from its tokens")
    return {
        "cancels": count,
        "cancel_to_response": latency_stats(to_response),
        "cancel_to_disconnect": latency_stats(to_disconnect),
    }


# --- 5. start-up ---------------------------------------------------------------------------------

BARE_IMPORT = "import trio, msgspec"
# The same imports, then one line on stdout, read by the reader like the sidecar's ready line.
BARE_IMPORT_LINE = BARE_IMPORT + """
import os
os.write(1, b'{"jsonrpc":"2.0","method":"sidecar:ready","params":{}}\\n')
"""


async def _bare_import() -> float:
    """spawn -> exit of `python -c "import trio, msgspec"` (interpreter teardown included)."""
    start = time.monotonic()
    await trio.run_process([sys.executable, "-c", BARE_IMPORT], env=child_env())
    return time.monotonic() - start


async def _bare_import_line() -> float:
    """spawn -> the line written right after the same imports is read by the reader."""
    async with open_rig("bare import") as rig:
        await rig.start_reader()
        spawned = await rig.spawn([sys.executable, "-c", BARE_IMPORT_LINE])
        await rig.wait_for(lambda: "ready" in rig.marks, "the line after the imports", 30.0)
        await rig.finish(shutdown=False)
    return rig.marks["ready"] - spawned


async def _sidecar_start(fake: BenchOllama) -> tuple[float, float]:
    async with open_rig("sidecar (start-up)") as rig:
        await rig.start_reader()
        spawned = await rig.spawn(sidecar_command(fake.url))
        status, _ = await rig.send("status")  # written at once: requests before ready are kept
        await rig.wait_for(lambda: "ready" in rig.marks, "sidecar:ready line", 30.0)
        answered, result = await rig.result(status)
        if not result["ollama"]["reachable"]:
            raise BenchFailure(f"status says the upstream is unreachable: {result!r}")
        await rig.finish()
    if rig.lines[0][1].get("method") != "sidecar:ready":
        raise BenchFailure("the first line was not sidecar:ready")
    return rig.marks["ready"] - spawned, answered - spawned


async def startup(fake: BenchOllama, repeats: int) -> dict[str, Any]:
    """Spawn -> ready line read, spawn -> status answer read, and the bare import, interleaved."""
    fake.reset()
    await _bare_import()  # warm the page cache for both
    await _sidecar_start(fake)
    bare: list[float] = []
    bare_line: list[float] = []
    ready: list[float] = []
    status: list[float] = []
    for _ in range(repeats):
        bare.append(await _bare_import())
        bare_line.append(await _bare_import_line())
        to_ready, to_status = await _sidecar_start(fake)
        ready.append(to_ready)
        status.append(to_status)
    return {
        "repeats": repeats,
        "bare_import_ms": statistics.median(bare) * 1000,
        "bare_import_line_ms": statistics.median(bare_line) * 1000,
        "ready_ms": statistics.median(ready) * 1000,
        "status_ms": statistics.median(status) * 1000,
        "raw_ms": {"bare_import": [v * 1000 for v in bare],
                   "bare_import_line": [v * 1000 for v in bare_line],
                   "ready": [v * 1000 for v in ready],
                   "status": [v * 1000 for v in status]},
    }
