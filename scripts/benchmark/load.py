"""Big requests and bursts (issue 14): what a large `chat` does to the other chats, and what
memory a burst of chats leaves behind.

- `big_requests`: one chat streams at `rate` tokens/s (one read per token) while `count` chat
  requests of about 5.6 MB each (2,000 messages, as a long conversation sent whole) are written
  to stdin, one every `interval` seconds. The streaming chat's added latency per token (upstream
  send stamp -> reader arrival, as in measurement 2) tells how long the big ones held the loop.
- `burst`: RSS once idle (after a warm-up chat), then `chats` chats at once, each streaming
  `tokens` tokens at 50 tokens/s (so all are open together); RSS at the peak and one second after
  the last answer.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import trio

from .rig import BenchFailure, check_text, open_rig, start_sidecar
from .streaming import _sample_rss, latency_stats, token_latencies
from .upstream import BENCH_MODEL, BenchOllama, chat_params, expected_text, fast, paced

BURST_RATE = 50.0  # every chat of the burst streams at once, as long as it takes to send all
BIG_MESSAGES = 2000
BIG_MESSAGE_CHARS = 2800  # 2,000 of these: a request line of about 5.6 MB


def big_request_line(id: int, tag: str) -> bytes:
    filler = ("lorem ipsum dolor sit amet " * (BIG_MESSAGE_CHARS // 27 + 1))[:BIG_MESSAGE_CHARS]
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {filler}"}
        for i in range(BIG_MESSAGES - 1)
    ]
    messages.append({"role": "user", "content": tag})
    return msgspec.json.encode({"jsonrpc": "2.0", "id": id, "method": "chat",
                                "params": {"model": BENCH_MODEL, "messages": messages}}) + b"\n"


async def big_requests(
    fake: BenchOllama, tokens: int, rate: float, count: int, interval: float
) -> dict[str, Any]:
    fake.reset()
    fake.expect("stream", paced("b", tokens, rate))
    fake.expect("big", fast("g", 3))
    lines = [big_request_line(1000 + k, "big") for k in range(count)]
    async with open_rig("sidecar (big requests beside a stream)") as rig:
        await start_sidecar(rig, fake.url)
        chat, _ = await rig.send("chat", chat_params("stream"))
        await rig.first_token(chat)
        assert rig.target is not None and rig.target.stdin is not None
        for line in lines:
            await trio.sleep(interval)
            await rig.target.stdin.send_all(line)
        for k in range(count):
            await rig.result(1000 + k, tokens / rate + 60)
        _, result = await rig.result(chat, tokens / rate + 60)
        await rig.finish()
    text, arrivals = rig.chat_log(chat)
    check_text(f"{rig.name}: chat {chat!r}", text, expected_text("b", tokens))
    if result["messages"][0]["content"] != text:
        raise BenchFailure(f"{rig.name}: the streaming chat's result differs from its tokens")
    stats = latency_stats(token_latencies("b", arrivals, fake.played["stream"].stamps))
    return {"tokens": tokens, "rate": rate, "requests": count,
            "request_bytes": len(lines[0]) if lines else 0, **stats}


async def burst(fake: BenchOllama, chats: int, tokens: int) -> dict[str, Any]:
    fake.reset()
    fake.expect("warm-up", fast("w", 20))
    prefixes = [f"u{k:03d}-" for k in range(chats)]
    for k, prefix in enumerate(prefixes):
        fake.expect(f"burst-{k}", paced(prefix, tokens, BURST_RATE))
    samples: list[tuple[float, int]] = []
    async with open_rig(f"sidecar ({chats} chats at once)") as rig:
        await start_sidecar(rig, fake.url, sidecar_args=("--max-chats", str(chats)))
        warm, _ = await rig.send("chat", chat_params("warm-up"))
        await rig.result(warm)
        await trio.sleep(0.5)
        idle = rig.rss_kib()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample_rss, rig, samples)
            ids = [(await rig.send("chat", chat_params(f"burst-{k}")))[0] for k in range(chats)]
            results = [(await rig.result(chat, 120))[1] for chat in ids]
            nursery.cancel_scope.cancel()
        ended = time.monotonic()
        await trio.sleep(1.0)
        after = rig.rss_kib()
        await rig.finish()
    for chat, prefix, result in zip(ids, prefixes, results):
        text, _ = rig.chat_log(chat)
        check_text(f"{rig.name}: chat {chat!r}", text, expected_text(prefix, tokens))
        if result["messages"][0]["content"] != text:
            raise BenchFailure(f"{rig.name}: chat {chat!r} result differs from its tokens")
    peak = max([kib for t, kib in samples if t <= ended] or [idle])
    return {"chats": chats, "tokens_per_chat": tokens, "idle_kib": idle, "peak_kib": peak,
            "after_kib": after, "growth_after_kib": after - idle}
