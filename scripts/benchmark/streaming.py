"""Measurements of streamed tokens: throughput (1), added latency (2), a stalled reader (6), and
32 concurrent chats (7). Each function is one run against a fresh process and returns raw numbers;
every run checks the token text exactly and raises `BenchFailure` when it is wrong.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import trio

from . import floor
from .rig import BenchFailure, Rig, check_text, open_rig, start_sidecar
from .upstream import (
    BenchOllama,
    Rendered,
    chat_params,
    expected_text,
    fast,
    ndjson_lines,
    paced,
    token_width,
)

THROUGHPUT_PREFIX = "t"
BIG_WAIT_S = 600.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_stats(latencies_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "latencies_ms": [round(v, 4) for v in ms],
    }


def token_latencies(prefix: str, arrivals: list[list[float]], stamps: list[float]) -> list[float]:
    """Per token: reader's arrival stamp minus the upstream's send stamp of that token's line.

    A notification may carry several whole tokens (merged deltas); they share its arrival.
    """
    width = token_width(prefix)
    out: list[float] = []
    index = 0
    for arrived, chars in arrivals:
        count, rest = divmod(int(chars), width)
        if rest:
            raise BenchFailure(f"a chat:token of {chars} chars splits a {width}-char token")
        out.extend(arrived - stamps[i] for i in range(index, index + count))
        index += count
    return out


@cache
def _fast(prefix: str, count: int) -> Rendered:
    return fast(prefix, count)


@cache
def _body(prefix: str, count: int) -> bytes:
    return b"".join(ndjson_lines(prefix, count))


@cache
def _text(prefix: str, count: int) -> str:
    return expected_text(prefix, count)


def prepare_throughput(count: int) -> None:
    """Renders the big reply once, before any timing."""
    _fast(THROUGHPUT_PREFIX, count)
    _body(THROUGHPUT_PREFIX, count)
    _text(THROUGHPUT_PREFIX, count)


def _check_chat(rig: Rig, chat: Any, result: dict[str, Any], want: str) -> tuple[str, list]:
    text, arrivals = rig.chat_log(chat)
    check_text(f"{rig.name}: chat {chat!r}", text, want)
    content = result["messages"][0]["content"]
    if content != text:
        raise BenchFailure(f"{rig.name}: chat {chat!r} result differs from its streamed tokens")
    return text, arrivals


async def _sample_rss(rig: Rig, samples: list[tuple[float, int]], period: float = 0.02) -> None:
    while True:
        samples.append((time.monotonic(), rig.rss_kib()))
        await trio.sleep(period)


# --- 1. throughput -------------------------------------------------------------------------------


async def _throughput(
    fake: BenchOllama, rig: Rig, count: int, chat: Any, tag: str, *, sidecar: bool,
    before_finish: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    await fake.wait_for_request("/api/chat")
    cpu_start, wall_start = rig.cpu(), time.monotonic()
    _, result = await rig.result(chat, BIG_WAIT_S)
    cpu_end, wall_end = rig.cpu(), time.monotonic()
    before_finish()
    await rig.finish(shutdown=sidecar, timeout=BIG_WAIT_S)
    _, arrivals = _check_chat(rig, chat, result, _text(THROUGHPUT_PREFIX, count))
    record = fake.played[tag].record
    assert record is not None
    seconds = arrivals[-1][0] - record.received_at
    wall = wall_end - wall_start
    return {"tokens": count, "seconds": seconds, "tokens_per_s": count / seconds,
            "notifications": len(arrivals),
            "cpu_us_per_token": (cpu_end[0] - cpu_start[0]) / count * 1e6,
            "relay_cpu_share": (cpu_end[0] - cpu_start[0]) / wall,
            "reader_cpu_share": (cpu_end[1] - cpu_start[1]) / wall}


async def throughput_sidecar(fake: BenchOllama, count: int) -> dict[str, Any]:
    """Upstream sees the request -> reader reads the last token, through `python -m sidecar`."""
    fake.reset()
    fake.expect("throughput", _fast(THROUGHPUT_PREFIX, count))
    samples: list[tuple[float, int]] = []
    async with open_rig("sidecar (throughput)") as rig:
        await start_sidecar(rig, fake.url)
        await trio.sleep(0.5)  # what loads after the ready line (the provider client) settles
        baseline = rig.rss_kib()
        sampling = trio.CancelScope()

        async def sample() -> None:
            with sampling:
                await _sample_rss(rig, samples, 0.05)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            chat, _ = await rig.send("chat", chat_params("throughput"))
            result = await _throughput(fake, rig, count, chat, "throughput", sidecar=True,
                                       before_finish=sampling.cancel)
    peak = max([baseline, *(kib for _, kib in samples)])
    series = [(round(t - samples[0][0], 3), kib) for t, kib in samples] if samples else []
    return {**result, "rss_before_kib": baseline, "rss_peak_kib": peak, "rss_samples": series,
            "rss_growth_kib": peak - baseline}


async def throughput_official(fake: BenchOllama, count: int) -> dict[str, Any]:
    """The same reply through `benchmark.relay` (the official ollama client)."""
    fake.reset()
    fake.expect("throughput", _fast(THROUGHPUT_PREFIX, count))
    async with open_rig("official client relay") as rig:
        await rig.start_reader()
        await rig.spawn([sys.executable, "-m", "benchmark.relay", "--host", fake.url,
                         "--model", "bench", "--prompt", "throughput"])
        return await _throughput(fake, rig, count, 1, "throughput", sidecar=False)


def throughput_floor(count: int) -> dict[str, Any]:
    return floor.measure(_body(THROUGHPUT_PREFIX, count), _text(THROUGHPUT_PREFIX, count))


# --- 2. added latency per token --------------------------------------------------------------------


async def latency(fake: BenchOllama, rate: float, count: int) -> dict[str, Any]:
    """Tokens paced at `rate`/s: upstream send stamp -> reader arrival stamp, per token."""
    fake.reset()
    prefix = "r"
    fake.expect("paced", paced(prefix, count, rate))
    async with open_rig(f"sidecar (latency at {rate:g}/s)") as rig:
        await start_sidecar(rig, fake.url)
        chat, _ = await rig.send("chat", chat_params("paced"))
        _, result = await rig.result(chat, count / rate + 30)
        await rig.finish()
    _, arrivals = _check_chat(rig, chat, result, expected_text(prefix, count))
    stats = latency_stats(token_latencies(prefix, arrivals, fake.played["paced"].stamps))
    return {"rate": rate, "tokens": count, "notifications": len(arrivals), **stats}


# --- 6. memory while the reader stalls -------------------------------------------------------------


async def stalled_reader(fake: BenchOllama, count: int, stall_s: float) -> dict[str, Any]:
    """A `count`-token reply while the reader stops reading for `stall_s` after 256 KiB."""
    fake.reset()
    fake.expect("warm-up", fast("w", 20))
    fake.expect("stall", fast("s", count))
    reader_args = ("--stall-after-bytes", str(256 * 1024), "--stall-s", str(stall_s))
    samples: list[tuple[float, int]] = []
    async with open_rig("sidecar (stalled reader)") as rig:
        await start_sidecar(rig, fake.url, *reader_args)
        warm, _ = await rig.send("chat", chat_params("warm-up"))
        _, warm_result = await rig.result(warm)
        await trio.sleep(0.3)
        baseline = rig.rss_kib()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample_rss, rig, samples)
            chat, _ = await rig.send("chat", chat_params("stall"))
            _, result = await rig.result(chat, stall_s + BIG_WAIT_S)
            nursery.cancel_scope.cancel()
        await rig.finish()
    _check_chat(rig, warm, warm_result, expected_text("w", 20))
    _check_chat(rig, chat, result, expected_text("s", count))
    if "stall" not in rig.marks or "resume" not in rig.marks:
        raise BenchFailure("stalled reader: the reader never stalled")
    start, end = rig.marks["stall"], rig.marks["resume"]
    during = [kib for t, kib in samples if start <= t <= end] or [baseline]
    return {
        "tokens": count, "stall_s": stall_s, "baseline_kib": baseline,
        "peak_during_stall_kib": max(during), "peak_kib": max(k for _, k in samples),
        "growth_kib": max(during) - baseline, "text_intact": True,
        "samples": [(round(t - start, 4), kib) for t, kib in samples],
    }


# --- 7. concurrent chats -------------------------------------------------------------------------


def _token_errors(got: str, want: str, width: int) -> int:
    """Tokens lost, duplicated or misrouted: positions that differ, plus the length difference."""
    got_tokens = [got[i:i + width] for i in range(0, len(got), width)]
    want_tokens = [want[i:i + width] for i in range(0, len(want), width)]
    wrong = sum(1 for a, b in zip(got_tokens, want_tokens) if a != b)
    return wrong + abs(len(got_tokens) - len(want_tokens))


async def concurrent(fake: BenchOllama, chats: int, rate: float, count: int) -> dict[str, Any]:
    """`chats` chats at once, each paced at `rate` tokens/s, each with its own token texts."""
    fake.reset()
    prefixes = [f"c{k:02d}-" for k in range(chats)]
    for k, prefix in enumerate(prefixes):
        fake.expect(f"concurrent-{k}", paced(prefix, count, rate))
    async with open_rig(f"sidecar ({chats} concurrent chats)") as rig:
        await start_sidecar(rig, fake.url)
        ids = [(await rig.send("chat", chat_params(f"concurrent-{k}")))[0] for k in range(chats)]
        results = [(await rig.result(chat, count / rate + 30))[1] for chat in ids]
        await rig.finish()
    errors = 0
    latencies: list[float] = []
    for k, (chat, prefix, result) in enumerate(zip(ids, prefixes, results)):
        text, arrivals = rig.chat_log(chat)
        want = expected_text(prefix, count)
        errors += _token_errors(text, want, token_width(prefix))
        if result["messages"][0]["content"] != text:
            raise BenchFailure(f"concurrent chat {chat!r}: its result differs from its tokens")
        if text == want:
            latencies += token_latencies(prefix, arrivals, fake.played[f"concurrent-{k}"].stamps)
    if errors:
        raise BenchFailure(f"{chats} concurrent chats: {errors} tokens lost, duplicated or misrouted")
    return {"chats": chats, "rate": rate, "tokens_per_chat": count, "token_errors": errors,
            **latency_stats(latencies)}
