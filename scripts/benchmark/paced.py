"""Paced streams (issue 14): CPU per token at the rate a local model writes, one read per token.

Each chat's reply is paced at `rate` tokens per second, one HTTP chunk per token, one socket
write per chunk, so every token is its own network read, wake-up and pipe write: the cost that
drains a laptop's battery, unlike the bulk throughput run where a read holds hundreds of tokens.
The same replies go through `python -m sidecar` and through the official-client relay
(`relay.py`, which runs several chats as concurrent asyncio tasks), and the CPU time (user +
system) of the process under test is taken once every chat has read its first token and again
once every chat has its result. CPU per token is that difference over the tokens that arrived in
between (counted by content from the reader's arrival log).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import trio

from .rig import BenchFailure, check_text, open_rig, start_sidecar
from .upstream import BenchOllama, chat_params, expected_text, paced, token_width


async def paced_cpu(
    fake: BenchOllama, target: str, chats: int, rate: float, count: int
) -> dict[str, Any]:
    """`chats` chats at once, `count` tokens each at `rate`/s, through `target` ("sidecar" or
    "official"); the CPU per token while they stream."""
    fake.reset()
    prefixes = [f"p{k:02d}-" for k in range(chats)]
    for k, prefix in enumerate(prefixes):
        fake.expect(f"paced-{k}", paced(prefix, count, rate))
    async with open_rig(f"{target} (paced, {chats} x {rate:g}/s)") as rig:
        if target == "sidecar":
            await start_sidecar(rig, fake.url)
            ids: list[Any] = [
                (await rig.send("chat", chat_params(f"paced-{k}")))[0] for k in range(chats)
            ]
        else:
            await rig.start_reader()
            prompts = [arg for k in range(chats) for arg in ("--prompt", f"paced-{k}")]
            await rig.spawn([sys.executable, "-m", "benchmark.relay", "--host", fake.url,
                             "--model", "bench", *prompts])
            ids = list(range(1, chats + 1))
        for chat in ids:
            await rig.first_token(chat, 30.0)
        started, cpu_start = time.monotonic(), rig.cpu()[0]
        results = [(await rig.result(chat, count / rate + 30))[1] for chat in ids]
        ended, cpu_end = time.monotonic(), rig.cpu()[0]
        await rig.finish(shutdown=target == "sidecar")
    tokens = 0
    for chat, prefix, result in zip(ids, prefixes, results):
        text, arrivals = rig.chat_log(chat)
        check_text(f"{rig.name}: chat {chat!r}", text, expected_text(prefix, count))
        if result["messages"][0]["content"] != text:
            raise BenchFailure(f"{rig.name}: chat {chat!r} result differs from its tokens")
        tokens += sum(int(chars) for t, chars in arrivals if started < t <= ended) // token_width(
            prefix
        )
    if tokens < chats:
        raise BenchFailure(f"{rig.name}: too few tokens arrived while measuring ({tokens})")
    cpu = cpu_end - cpu_start
    return {"target": target, "chats": chats, "rate": rate, "tokens_per_chat": count,
            "measured_tokens": tokens, "seconds": ended - started, "cpu_s": cpu,
            "cpu_us_per_token": cpu / tokens * 1e6, "cpu_share": cpu / (ended - started)}


async def _self_check() -> None:  # pragma: no cover - a manual run: python -m benchmark.paced
    from .upstream import open_bench_ollama

    async with open_bench_ollama() as fake:
        for target in ("sidecar", "official"):
            result = await paced_cpu(fake, target, 1, 50.0, 200)
            print(target, f"{result['cpu_us_per_token']:.0f} us/token", result)


if __name__ == "__main__":  # pragma: no cover
    trio.run(_self_check)
