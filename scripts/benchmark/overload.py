"""Overload (8): a burst of mixed requests written at once beside a streaming chat (issue 11).

One run: a chat streams paced tokens; once its first token is read, `requests` lines go to stdin
in one write, by turns `status`, `list_models` and `cancel_chat` of an id that is not running.
Measured: the time from that write until the last of them is answered ("time to drain"), how
many were served and how many answered `overloaded` (`--max-requests`), the chat's added latency
per token (its worst token delay, and p99) over the whole reply, and the sidecar's RSS before
and at its peak (sampled every 20 ms). Every line must get exactly one answer, a result or
`overloaded`, and the chat must arrive whole: anything else is a correctness failure.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import trio

from .rig import BenchFailure, check_text, open_rig, start_sidecar
from .streaming import latency_stats, token_latencies
from .upstream import BenchOllama, chat_params, expected_text, paced

CHAT_TOKENS = 1000
CHAT_RATE = 500.0  # tokens/s: the chat streams for 2 s, well past the burst
METHODS = ("status", "list_models", "cancel_chat")
OVERLOADED = -32005


def burst_lines(first_id: int, count: int) -> bytes:
    lines = []
    for i in range(count):
        method = METHODS[i % len(METHODS)]
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": first_id + i, "method": method}
        if method == "cancel_chat":
            message["params"] = {"chat_id": "not-running"}
        lines.append(msgspec.json.encode(message))
    return b"\n".join(lines) + b"\n"


async def _sample_rss(rig: Any, samples: list[int]) -> None:
    while True:
        samples.append(rig.rss_kib())
        await trio.sleep(0.02)


async def burst(fake: BenchOllama, requests: int) -> dict[str, Any]:
    fake.reset()
    prefix = "o"
    fake.expect("overload", paced(prefix, CHAT_TOKENS, CHAT_RATE))
    first_id = 1000
    data = burst_lines(first_id, requests)
    ids = range(first_id, first_id + requests)
    samples: list[int] = []
    async with open_rig("sidecar (overload)") as rig:
        await start_sidecar(rig, fake.url)
        await trio.sleep(0.3)
        baseline = rig.rss_kib()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample_rss, rig, samples)
            chat, _ = await rig.send("chat", chat_params("overload"))
            await rig.first_token(chat)
            assert rig.target is not None and rig.target.stdin is not None
            written_at = time.monotonic()
            await rig.target.stdin.send_all(data)
            # Until the chat ends, the burst's answers are the only responses (O(1) to check:
            # this process is the upstream too, and must keep its pace).
            await rig.wait_for(lambda: len(rig.responses) >= requests,
                               f"answers to all {requests:,} burst requests")
            if any(i not in rig.responses for i in ids):
                raise BenchFailure("overload: an answer came for an id that was not sent")
            drained_at = max(rig.responses[i][0] for i in ids)
            _, result = await rig.result(chat, CHAT_TOKENS / CHAT_RATE + 30)
            nursery.cancel_scope.cancel()
        await rig.finish()
    served = overloaded = 0
    for i in ids:
        message = rig.responses[i][1]
        if "result" in message:
            served += 1
        elif message["error"]["code"] == OVERLOADED:
            overloaded += 1
        else:
            raise BenchFailure(f"overload: request {i} failed: {message['error']}")
    text, arrivals = rig.chat_log(chat)
    check_text("overload: the chat beside the burst", text, expected_text(prefix, CHAT_TOKENS))
    if result["messages"][0]["content"] != text:
        raise BenchFailure("overload: the chat's result differs from its streamed tokens")
    stats = latency_stats(token_latencies(prefix, arrivals, fake.played["overload"].stamps))
    return {
        "requests": requests, "served": served, "overloaded": overloaded,
        "drain_ms": (drained_at - written_at) * 1000,
        "rss_before_kib": baseline, "rss_peak_kib": max([baseline, *samples]),
        "rss_growth_kib": max([baseline, *samples]) - baseline,
        **stats,
    }
