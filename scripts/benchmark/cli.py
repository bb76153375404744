"""`scripts/bench [--quick] [--runs N] [--json PATH] [--plot DIR] [--profile PATH]
[--frozen [PATH]]`.

Runs every measurement of issue 3 `--runs` times against fresh processes, then prints the machine
and a table of medians next to the targets. Timings never fail the command (the machines are
shared and noisy); a correctness failure (a token lost, duplicated or misrouted, an error
response, a process that did not start or exit) does: exit status 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from . import control, overload, store, streaming
from . import control, load, overload, paced, streaming
from .report import Row, machine, machine_text, table, write_json, write_plots
from .rig import BenchFailure
from .upstream import open_bench_ollama


@dataclass(frozen=True)
class Scale:
    throughput_tokens: int
    latency_100_tokens: int
    latency_2000_tokens: int
    warmup_chats: int
    chats_in_a_row: int
    cancels: int
    startups: int
    stall_tokens: int
    stall_s: float
    concurrent_chats: int
    concurrent_tokens: int
    burst_requests: int = 10_000
    paced_tokens: int = 1000  # issue 14: one chat (and 32) at 50 tokens/s, a read per token
    big_stream_tokens: int = 1000  # a stream at 100 tokens/s beside ...
    big_requests: int = 8  # ... this many 5.6 MB chat requests, one a second
    burst_chats: int = 128
    burst_tokens: int = 200


FULL = Scale(200_000, 1000, 10_000, 10, 1000, 100, 5, 100_000, 5.0, 32, 500)
QUICK = Scale(20_000, 100, 2000, 10, 100, 10, 3, 20_000, 2.0, 32, 50,
              paced_tokens=100, big_stream_tokens=200, big_requests=2, burst_tokens=50)
PACED_RATE = 50.0
PACED_CHATS = 32


def plan(scale: Scale) -> list[tuple[str, Callable[[Any], Awaitable[dict[str, Any]]]]]:
    """(name, run) in the order they run; `run(fake)` is one run of one measurement."""

    async def floor(fake: Any) -> dict[str, Any]:
        return streaming.throughput_floor(scale.throughput_tokens)

    return [
        ("startup", lambda fake: control.startup(fake, scale.startups)),
        ("chats_in_a_row", lambda fake: control.chats_in_a_row(
            fake, scale.warmup_chats, scale.chats_in_a_row)),
        ("cancels", lambda fake: control.cancels(fake, scale.cancels)),
        ("latency_100", lambda fake: streaming.latency(fake, 100, scale.latency_100_tokens)),
        ("latency_2000", lambda fake: streaming.latency(fake, 2000, scale.latency_2000_tokens)),
        ("concurrent", lambda fake: streaming.concurrent(
            fake, scale.concurrent_chats, 50, scale.concurrent_tokens)),
        ("overload", lambda fake: overload.burst(fake, scale.burst_requests)),
        ("stalled", lambda fake: streaming.stalled_reader(fake, scale.stall_tokens, scale.stall_s)),
        ("throughput_sidecar", lambda fake: streaming.throughput_sidecar(
            fake, scale.throughput_tokens)),
        ("throughput_official", lambda fake: streaming.throughput_official(
            fake, scale.throughput_tokens)),
        ("throughput_floor", floor),
        ("throughput_nostore", lambda fake: store.throughput(fake, scale.throughput_tokens, False)),
        ("throughput_store", lambda fake: store.throughput(fake, scale.throughput_tokens, True)),
        ("paced_sidecar", lambda fake: paced.paced_cpu(
            fake, "sidecar", 1, PACED_RATE, scale.paced_tokens)),
        ("paced_official", lambda fake: paced.paced_cpu(
            fake, "official", 1, PACED_RATE, scale.paced_tokens)),
        ("paced32_sidecar", lambda fake: paced.paced_cpu(
            fake, "sidecar", PACED_CHATS, PACED_RATE, scale.paced_tokens)),
        ("paced32_official", lambda fake: paced.paced_cpu(
            fake, "official", PACED_CHATS, PACED_RATE, scale.paced_tokens)),
        ("big_requests", lambda fake: load.big_requests(
            fake, scale.big_stream_tokens, 100.0, scale.big_requests, 1.0)),
        ("burst", lambda fake: load.burst(fake, scale.burst_chats, scale.burst_tokens)),
    ]


def _brief(result: dict[str, Any]) -> str:
    for key in ("cpu_us_per_token", "tokens_per_s", "p99_ms", "ready_ms", "growth_kib",
                "growth_after_kib"):
        if key in result:
            return f"{key}={result[key]:,.2f}"
    if "cancel_to_response" in result:
        return f"cancel p99={result['cancel_to_response']['p99_ms']:.2f} ms"
    return ""


async def run_all(scale: Scale, runs: int, only: set[str] | None
                  ) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    results: dict[str, list[dict[str, Any]]] = {}
    failures: list[str] = []
    streaming.prepare_throughput(scale.throughput_tokens)
    steps = [(name, run) for name, run in plan(scale) if only is None or name in only]
    async with open_bench_ollama() as fake:
        # Run by run, so that the throughput variants of one run share the machine's mood.
        for index in range(runs):
            for name, run in steps:
                started = time.monotonic()
                try:
                    result = await run(fake)
                except BenchFailure as exc:
                    failures.append(f"{name}: {exc}")
                    print(f"FAIL {name} run {index + 1}: {exc}", file=sys.stderr, flush=True)
                    continue
                except Exception as exc:  # a bug here, or an unexpected answer: still a failure
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    traceback.print_exc()
                    continue
                results.setdefault(name, []).append(result)
                print(f"  run {index + 1}/{runs} {name}: {_brief(result)} "
                      f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    return results, failures


# --- the table -----------------------------------------------------------------------------------


def _median(runs: dict[str, list[dict[str, Any]]], name: str, *keys: str) -> float | None:
    values = []
    for run in runs.get(name, []):
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(value)
    return statistics.median(values) if values else None


def _mb(kib: float | None) -> float | None:
    return None if kib is None else kib * 1024 / 1e6


def _pct(share: float | None) -> float | None:
    return None if share is None else 100 * share


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def rows(runs: dict[str, list[dict[str, Any]]], scale: Scale) -> list[Row]:
    m = lambda name, *keys: _median(runs, name, *keys)  # noqa: E731
    tps_sidecar = m("throughput_sidecar", "tokens_per_s")
    tps_official = m("throughput_official", "tokens_per_s")
    tps_floor = m("throughput_floor", "tokens_per_s")
    out = [
        Row("1", f"throughput: sidecar ({scale.throughput_tokens:,} tokens)", tps_sidecar, "tok/s"),
        Row("1", "throughput: official ollama client relay", tps_official, "tok/s"),
        Row("1", "throughput: msgspec floor (in-process, no I/O)", tps_floor, "tok/s"),
        Row("1", "CPU of the sidecar while relaying (1 core = 100)",
            _pct(m("throughput_sidecar", "relay_cpu_share")), "%"),
        Row("1", "CPU of the official relay while relaying",
            _pct(m("throughput_official", "relay_cpu_share")), "%"),
        Row("1", "sidecar / official client (wall-clock relay)", _div(tps_sidecar, tps_official),
            "x", 6, True, ">= 6x"),
        Row("1", "sidecar / msgspec floor", _div(tps_sidecar, tps_floor) and
            100 * _div(tps_sidecar, tps_floor), "%", 25, True, ">= 25%"),
        Row("1", "CPU per token: sidecar", m("throughput_sidecar", "cpu_us_per_token"), "us"),
        Row("1", "CPU per token: msgspec floor", m("throughput_floor", "us_per_token"), "us"),
        Row("1", "CPU per token: sidecar / msgspec floor",
            _div(m("throughput_sidecar", "cpu_us_per_token"), m("throughput_floor", "us_per_token")),
            "x", 1.6, False, "<= 1.6x"),
    ]
    for name, rate, limit in (("latency_100", "100", 2.0), ("latency_2000", "2,000", 5.0)):
        out += [
            Row("2", f"added latency at {rate} tok/s: p50", m(name, "p50_ms"), "ms"),
            Row("2", f"added latency at {rate} tok/s: p99", m(name, "p99_ms"), "ms", limit, False,
                f"<= {limit:g} ms"),
            Row("2", f"added latency at {rate} tok/s: max", m(name, "max_ms"), "ms"),
        ]
    out += [
        Row("3", "chat written -> upstream has the request: p50",
            m("chats_in_a_row", "request_to_upstream", "p50_ms"), "ms"),
        Row("3", "chat written -> upstream has the request: p99",
            m("chats_in_a_row", "request_to_upstream", "p99_ms"), "ms"),
        Row("3", "first upstream byte -> first chat:token read: p50",
            m("chats_in_a_row", "first_byte_to_first_token", "p50_ms"), "ms"),
        Row("3", "first upstream byte -> first chat:token read: p99",
            m("chats_in_a_row", "first_byte_to_first_token", "p99_ms"), "ms"),
    ]
    for key, label, limit in (("cancel_to_response", "chat response", 10.0),
                              ("cancel_to_disconnect", "upstream disconnect", 20.0)):
        out += [
            Row("4", f"cancel_chat -> {label} ({scale.cancels}): p50", m("cancels", key, "p50_ms"), "ms"),
            Row("4", f"cancel_chat -> {label} ({scale.cancels}): p99", m("cancels", key, "p99_ms"), "ms",
                limit, False, f"<= {limit:g} ms"),
            Row("4", f"cancel_chat -> {label} ({scale.cancels}): max", m("cancels", key, "max_ms"), "ms"),
        ]
    bare, ready = m("startup", "bare_import_line_ms"), m("startup", "ready_ms")
    out += [
        Row("5", "python -c 'import trio, msgspec': spawn -> exit",
            m("startup", "bare_import_ms"), "ms"),
        Row("5", "the same imports: spawn -> a line written after them read", bare, "ms"),
        Row("5", "spawn -> sidecar:ready read", ready, "ms"),
        Row("5", "sidecar:ready / bare import (line)", _div(ready, bare), "x", 1.25, False,
            "<= 1.25x"),
        Row("5", "spawn -> first status answer read", m("startup", "status_ms"), "ms"),
        Row("6", "RSS idle (after ready)", _mb(m("chats_in_a_row", "rss_idle_kib")), "MB", 40, False,
            "<= 40 MB"),
        Row("6", f"RSS after {scale.warmup_chats} warm-up chats",
            _mb(m("chats_in_a_row", "rss_warm_kib")), "MB"),
        Row("6", f"RSS after {scale.chats_in_a_row:,} more chats in a row",
            _mb(m("chats_in_a_row", "rss_after_kib")), "MB"),
        Row("6", f"RSS growth over those {scale.chats_in_a_row:,} chats",
            _mb(m("chats_in_a_row", "growth_kib")), "MB", 2, False, "<= 2 MB"),
        Row("6", "RSS growth from idle (incl. first-chat imports)",
            _mb(m("chats_in_a_row", "growth_from_idle_kib")), "MB"),
        Row("6", f"RSS growth during the {scale.throughput_tokens:,}-token throughput reply",
            _mb(m("throughput_sidecar", "rss_growth_kib")), "MB"),
        Row("6", f"stalled reader ({scale.stall_tokens:,} tokens, {scale.stall_s:g} s): RSS before",
            _mb(m("stalled", "baseline_kib")), "MB"),
        Row("6", "stalled reader: peak RSS during the stall", _mb(m("stalled", "peak_during_stall_kib")),
            "MB"),
        Row("6", "stalled reader: RSS growth during the stall", _mb(m("stalled", "growth_kib")),
            "MB", 10, False, "<= 10 MB"),
        Row("6", "stalled reader: RSS growth over the whole reply",
            _mb(_sub(m("stalled", "peak_kib"), m("stalled", "baseline_kib"))), "MB"),
        Row("6", "stalled reader: tokens lost after resuming",
            0 if runs.get("stalled") else None, "tokens", 0, False, "0"),
        Row("7", f"{scale.concurrent_chats} chats x 50 tok/s: tokens lost/duplicated/misrouted",
            m("concurrent", "token_errors"), "tokens", 0, False, "0"),
        Row("7", f"{scale.concurrent_chats} chats x 50 tok/s: added latency p50",
            m("concurrent", "p50_ms"), "ms"),
        Row("7", f"{scale.concurrent_chats} chats x 50 tok/s: added latency p99",
            m("concurrent", "p99_ms"), "ms", 10, False, "<= 10 ms"),
        Row("7", f"{scale.concurrent_chats} chats x 50 tok/s: added latency max",
            m("concurrent", "max_ms"), "ms"),
    ]
    for name, label in (("paced", "1 chat"), ("paced32", f"{PACED_CHATS} chats")):
        side, official = m(f"{name}_sidecar", "cpu_us_per_token"), m(f"{name}_official",
                                                                      "cpu_us_per_token")
        what = f"paced CPU per token ({label} x {PACED_RATE:g} tok/s, a read per token"
        out += [
            Row("9", f"{what}): sidecar", side, "us"),
            Row("9", f"{what}): official client relay", official, "us"),
            Row("9", f"{what}): sidecar / official", _div(side, official), "x", 0.3, False,
                "<= 0.3x"),
        ]
    big = f"a stream at 100 tok/s beside {scale.big_requests} chat requests of 5.6 MB"
    out += [
        Row("9", f"{big}: added latency p50", m("big_requests", "p50_ms"), "ms"),
        Row("9", f"{big}: added latency p99", m("big_requests", "p99_ms"), "ms", 5, False,
            "<= 5 ms"),
        Row("9", f"{big}: added latency max", m("big_requests", "max_ms"), "ms"),
        Row("9", f"{scale.burst_chats} chats at once: RSS idle before",
            _mb(m("burst", "idle_kib")), "MB"),
        Row("9", f"{scale.burst_chats} chats at once: RSS at the peak",
            _mb(m("burst", "peak_kib")), "MB"),
        Row("9", f"{scale.burst_chats} chats at once: RSS growth 1 s after they end",
            _mb(m("burst", "growth_after_kib")), "MB", 4 * 1.048576, False, "<= 4 MiB"),
    ]
    burst = f"burst of {scale.burst_requests:,} mixed requests beside a chat"
    out += [
        Row("8", f"{burst}: time to drain", m("overload", "drain_ms"), "ms"),
        Row("8", f"{burst}: served", m("overload", "served"), "requests"),
        Row("8", f"{burst}: answered overloaded", m("overload", "overloaded"), "requests"),
        Row("8", f"{burst}: chat's added latency p99", m("overload", "p99_ms"), "ms"),
        Row("8", f"{burst}: chat's worst token delay", m("overload", "max_ms"), "ms", 20, False,
            "<= 20 ms"),
        Row("8", f"{burst}: RSS before", _mb(m("overload", "rss_before_kib")), "MB"),
        Row("8", f"{burst}: RSS growth at the peak", _mb(m("overload", "rss_growth_kib")), "MB"),
    ]
    stored, unstored = m("throughput_store", "tokens_per_s"), m("throughput_nostore", "tokens_per_s")
    out += [
        Row("9", "throughput: --no-store", unstored, "tok/s"),
        Row("9", "throughput: store on, a chat on a thread", stored, "tok/s"),
        Row("9", "store on / --no-store", _div(stored, unstored) and 100 * _div(stored, unstored),
            "%", 95, True, ">= 95%"),
    ]
    return out


# --- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true",
                        help="a small version of each measurement (well under a minute)")
    parser.add_argument("--runs", type=int, help="runs of each measurement (default 3; --quick: 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every raw number here")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write PNG plots into DIR")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only these measurements (repeatable): "
                        + ", ".join(name for name, _ in plan(FULL)))
    parser.add_argument("--profile", type=Path, metavar="PATH",
                        help="instead: py-spy the sidecar during the throughput run into PATH")
    parser.add_argument("--paced", action="store_true",
                        help="with --profile: a reply at 50 tokens/s, a read per token")
    parser.add_argument("--frozen", nargs="?", const="", metavar="PATH",
                        help="instead: start-up of the one-folder binary (scripts/build-sidecar, "
                        "or PATH) against python -m sidecar; --runs rounds (default 10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scale = QUICK if args.quick else FULL
    if args.profile is not None:
        from .profile import profile

        if args.paced:
            return profile(args.profile, scale.paced_tokens if not args.quick else 200, PACED_RATE)
        return profile(args.profile, scale.throughput_tokens)
    if args.frozen is not None:
        from .frozen import frozen_startup

        return frozen_startup(args.frozen or None, args.runs or (3 if args.quick else 10))
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        print("--runs must be at least 1", file=sys.stderr)
        return 2
    known = {name for name, _ in plan(scale)}
    only = set(args.only) if args.only else None
    if only and not only <= known:
        print(f"unknown measurement(s): {', '.join(sorted(only - known))}", file=sys.stderr)
        return 2
    info = machine()
    mode = "quick" if args.quick else "full"
    print(f"ollama-sidecar benchmark ({mode}, {runs} run{'s' * (runs > 1)} each; medians)")
    print(machine_text(info), flush=True)
    started = time.monotonic()
    results, failures = trio.run(run_all, scale, runs, only)
    table_rows = rows(results, scale)
    print()
    print(table(table_rows))
    print("\nratio: median / target bound (at most: <= 1 passes; at least: >= 1 passes). "
          "MISS never fails the command: timings are informational.")
    print(f"wall time: {time.monotonic() - started:.1f} s")
    if args.json is not None:
        write_json(args.json, info, {"quick": args.quick, "runs": runs}, table_rows, results,
                   failures)
        print(f"raw numbers: {args.json}")
    if args.plot is not None:
        for path in write_plots(args.plot, results):
            print(f"plot: {path}")
    if failures:
        print(f"\nCORRECTNESS FAILURES ({len(failures)}):", file=sys.stderr)
        for failure in failures:
            print(f"- {failure}", file=sys.stderr)
        return 1
    print("correctness: every token arrived exactly once, in its chat; no errors.")
    return 0
