"""`scripts/bench --real [--runs N] [--tokens N] [--threads N] [--json PATH]`: a real model.

Gemma 3 270M (Q4_K_M) in llama-cpp-python's OpenAI-compatible server on loopback, started the way
`scripts/test --real` starts it (tests/real/llama.py: `--chat_format gemma --n_threads 2
--logits_all false --interrupt_requests false`). One sidecar process (`--provider openai`) is
spawned before timing starts. Each run (the first two taking turns at going first):

- *direct*: one streamed chat read straight from the server (httpx, in this process);
- *sidecar*: the same kind of chat (same seed and `max_tokens`/`num_predict`, a prompt that
  differs only in its first number) through the sidecar, read from its stdout by the harness
  (`sidecar_testkit.harness`, arrival time per read);
- *cancel, then idle*: a long chat through the sidecar, `cancel_chat` after its 5th token, then
  the server's CPU time is polled from /proc every 5 ms until it stays flat for 0.5 s;
- *cancel, then the next chat*: the same, but a new chat is sent as soon as the cancelled one
  has answered, as a user pressing Stop and asking again would.

Numbers (medians over runs):

- time to first token: request sent (direct) or `chat` written (sidecar) until the first content
  delta / `chat:token` is read. Each prompt starts with a fresh number, so the server evaluates
  the whole prompt (its prefix cache cannot answer it).
- tokens/s: content deltas (direct) or the result's `usage.completion_tokens` (sidecar: the
  chunks with output, since this server sends no usage in a stream), minus the first, divided by
  the time from the first to the last one read: the decode rate as a reader sees it.
- cancel_chat -> chat response read; -> the server's CPU stops (the last CPU tick before it
  goes flat, 10 ms resolution); -> the next chat's first token read.

Timings never fail the command; an error response or a process that misbehaves does (exit 1).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import msgspec
import trio

from sidecar_testkit.harness import SidecarProcess, open_sidecar

from .report import Row, machine, machine_text, table, table_markdown
from .rig import REPO_ROOT

if str(REPO_ROOT) not in sys.path:  # tests/real/llama.py starts the server for both
    sys.path.insert(0, str(REPO_ROOT))

from tests.real.llama import (  # noqa: E402
    MODEL_ALIAS, LlamaServer, ensure_model, run_server, server_flags, stream_direct,
)

GUARD_S: Final = 600.0  # per measurement; a guard against hangs only
CANCEL_AFTER: Final = 5  # tokens
LONG_REPLY: Final = 1500  # tokens asked for by the chats that get cancelled
QUIET_S: Final = 0.5  # CPU flat this long = the server is idle
_nonce = itertools.count(1)


class RealFailure(Exception):
    """An error response, or a reply with no tokens: the run cannot be measured."""


def messages() -> list[dict[str, str]]:
    # A fresh number first, so no two prompts share more than the chat template's prefix.
    return [{"role": "user", "content": f"{next(_nonce)}. Count with me: 1, 2, 3, 4, 5, 6, 7,"}]


def _rate(arrivals: list[float], tokens: int) -> float:
    if tokens < 2 or arrivals[-1] <= arrivals[0]:
        raise RealFailure(f"only {tokens} token(s) came: no rate to measure")
    return (tokens - 1) / (arrivals[-1] - arrivals[0])


async def direct(server: LlamaServer, seed: int, tokens: int, prompt: list[dict[str, str]]
                 ) -> dict[str, Any]:
    stream = await stream_direct(server, {
        "model": server.model, "messages": prompt, "seed": seed, "max_tokens": tokens,
    })
    arrivals = stream.content_arrivals()
    if not arrivals:
        raise RealFailure("the server streamed no content")
    return {
        "ttft_ms": (arrivals[0] - stream.started_at) * 1000,
        "tokens": len(arrivals),
        "tokens_per_s": _rate(arrivals, len(arrivals)),
        "finish_reason": stream.finish_reason(),
    }


def _token_lines(sidecar: SidecarProcess, chat_id: Any) -> list[Any]:
    return [line for line in sidecar.lines
            if line.method == "chat:token" and line.value["params"]["chat_id"] == chat_id]


async def _chat(sidecar: SidecarProcess, params: dict[str, Any]) -> tuple[Any, float]:
    written = time.monotonic()
    return await sidecar.request("chat", params), written


async def _first_token(sidecar: SidecarProcess, chat_id: Any) -> float:
    line = await sidecar.wait_for(
        lambda seen: seen.method == "chat:token" and seen.value["params"]["chat_id"] == chat_id)
    return line.received_at


def _result(response: dict[str, Any]) -> dict[str, Any]:
    if "result" not in response:
        raise RealFailure(f"error response: {response.get('error')}")
    return response["result"]


async def through_sidecar(sidecar: SidecarProcess, seed: int, tokens: int,
                          prompt: list[dict[str, str]]) -> dict[str, Any]:
    chat_id, written = await _chat(
        sidecar, {"messages": prompt, "options": {"seed": seed, "num_predict": tokens}})
    result = _result(await sidecar.response(chat_id))
    lines = _token_lines(sidecar, chat_id)
    if not lines:
        raise RealFailure("the sidecar wrote no chat:token")
    count = result["usage"]["completion_tokens"]
    return {
        "ttft_ms": (lines[0].received_at - written) * 1000,
        "tokens": count,
        "lines": len(lines),
        "tokens_per_s": _rate([lines[0].received_at, lines[-1].received_at], count),
        "done_reason": result["done_reason"],
    }


async def _cancel_after_tokens(sidecar: SidecarProcess, seed: int) -> tuple[Any, float]:
    chat_id, _ = await _chat(
        sidecar, {"messages": messages(), "options": {"seed": seed, "num_predict": LONG_REPLY}})
    await sidecar.wait_for(lambda _: len(_token_lines(sidecar, chat_id)) >= CANCEL_AFTER)
    sent = time.monotonic()
    await sidecar.request("cancel_chat", {"chat_id": chat_id})
    return chat_id, sent


async def cancel_then_idle(sidecar: SidecarProcess, server: LlamaServer, seed: int
                           ) -> dict[str, Any]:
    chat_id, sent = await _cancel_after_tokens(sidecar, seed)
    last_cpu, last_change = server.cpu_seconds(), sent
    response_at: float | None = None
    while True:
        await trio.sleep(0.005)
        now, cpu = time.monotonic(), server.cpu_seconds()
        if cpu != last_cpu:
            last_cpu, last_change = cpu, now
        if response_at is None:
            line = next((seen for seen in sidecar.lines
                         if seen.is_response and seen.value.get("id") == chat_id), None)
            if line is not None:
                if _result(line.value)["done_reason"] != "cancelled":
                    raise RealFailure(f"the cancelled chat answered {line.value}")
                response_at = line.received_at
        elif now - last_change >= QUIET_S:
            break
    return {
        "cancel_to_response_ms": (response_at - sent) * 1000,
        "cancel_to_server_idle_ms": max(0.0, last_change - sent) * 1000,
    }


async def cancel_then_next(sidecar: SidecarProcess, seed: int) -> dict[str, Any]:
    chat_id, sent = await _cancel_after_tokens(sidecar, seed)
    if _result(await sidecar.response(chat_id))["done_reason"] != "cancelled":
        raise RealFailure("the cancelled chat was not cancelled")
    next_id, _ = await _chat(
        sidecar, {"messages": messages(), "options": {"seed": seed, "num_predict": 3}})
    first = await _first_token(sidecar, next_id)
    _result(await sidecar.response(next_id))
    return {"cancel_to_next_first_token_ms": (first - sent) * 1000}


async def run_all(server: LlamaServer, runs: int, tokens: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    args = ("--provider", "openai", "--base-url", server.base_url, "--model", server.model)
    async with open_sidecar(*args) as sidecar:
        with trio.fail_after(GUARD_S):  # warm-up: the first request pays for loading the weights
            await direct(server, 0, 8, messages())
        for index in range(runs):
            seed = 100 + index
            # Prompts of the same length and shape; only their first number differs. Direct and
            # sidecar take turns going first, so neither always follows the cancels.
            pair = [
                ("direct", lambda: direct(server, seed, tokens, messages())),
                ("sidecar", lambda: through_sidecar(sidecar, seed, tokens, messages())),
            ]
            steps = [
                *(pair[::-1] if index % 2 else pair),
                ("cancel_idle", lambda: cancel_then_idle(sidecar, server, seed)),
                ("cancel_next", lambda: cancel_then_next(sidecar, seed)),
            ]
            for name, step in steps:
                started = time.monotonic()
                with trio.fail_after(GUARD_S):
                    result = await step()
                result["load_1m"] = os.getloadavg()[0]  # how busy the shared machine was
                results.setdefault(name, []).append(result)
                print(f"  run {index + 1}/{runs} {name}: "
                      + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in result.items())
                      + f" ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    return results


def rows(results: dict[str, list[dict[str, Any]]], tokens: int) -> list[Row]:
    def m(name: str, key: str) -> float | None:
        values = [run[key] for run in results.get(name, [])]
        return statistics.median(values) if values else None

    tps_direct, tps_sidecar = m("direct", "tokens_per_s"), m("sidecar", "tokens_per_s")
    # Each run's pair ran back to back, so their ratio shares the machine's mood of the moment.
    ratios = [sidecar["tokens_per_s"] / direct["tokens_per_s"]
              for direct, sidecar in zip(results.get("direct", []), results.get("sidecar", []))]
    return [
        Row("R", "time to first token: direct from the server", m("direct", "ttft_ms"), "ms"),
        Row("R", "time to first token: through the sidecar", m("sidecar", "ttft_ms"), "ms"),
        Row("R", f"tokens/s: direct from the server ({tokens} asked)", tps_direct, "tok/s"),
        Row("R", "tokens/s: through the sidecar", tps_sidecar, "tok/s"),
        Row("R", "sidecar / direct tokens/s (median of the per-run ratios)",
            statistics.median(ratios) if ratios else None, "x"),
        Row("R", "tokens per reply: direct", m("direct", "tokens"), "tokens"),
        Row("R", "tokens per reply: through the sidecar", m("sidecar", "tokens"), "tokens"),
        Row("R", "cancel_chat -> chat response read", m("cancel_idle", "cancel_to_response_ms"),
            "ms"),
        Row("R", "cancel_chat -> server CPU stops (±10 ms)",
            m("cancel_idle", "cancel_to_server_idle_ms"), "ms"),
        Row("R", "cancel_chat -> next chat's first token read",
            m("cancel_next", "cancel_to_next_first_token_ms"), "ms"),
    ]


def per_run(results: dict[str, list[dict[str, Any]]]) -> str:
    """Each run's pair of rates, as a markdown table: the spread the medians hide."""
    lines = ["| run | direct tok/s | sidecar tok/s | sidecar / direct | load (1 min) |",
             "|---:|---:|---:|---:|---:|"]
    pairs = zip(results.get("direct", []), results.get("sidecar", []))
    for index, (direct, sidecar) in enumerate(pairs, 1):
        lines.append(f"| {index} | {direct['tokens_per_s']:.1f} | {sidecar['tokens_per_s']:.1f} "
                     f"| {sidecar['tokens_per_s'] / direct['tokens_per_s']:.2f} "
                     f"| {max(direct['load_1m'], sidecar['load_1m']):.1f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench --real",
                                     description="The sidecar against a real model (Gemma 3 270M).")
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement (default 5)")
    parser.add_argument("--tokens", type=int, default=64,
                        help="max_tokens / num_predict of the measured replies (default 64)")
    parser.add_argument("--threads", type=int, default=2,
                        help="the server's --n_threads (default 2, as issue 7 starts it)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every raw number here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.tokens < 2 or args.threads < 1:
        print("--runs and --threads must be at least 1, --tokens at least 2", file=sys.stderr)
        return 2
    info = machine()
    info["packages"]["llama-cpp-python"] = metadata.version("llama-cpp-python")
    model = ensure_model()
    print(f"ollama-sidecar against a real model ({args.runs} run{'s' * (args.runs > 1)}; medians)")
    print(machine_text(info))
    print(f"model: {model.name} as {MODEL_ALIAS!r}; server: python -m llama_cpp.server "
          f"{' '.join(server_flags(args.threads))}", flush=True)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
            with run_server(Path(tmp) / "server.log", threads=args.threads) as server:
                results = trio.run(run_all, server, args.runs, args.tokens)
    except (RealFailure, trio.TooSlowError, EOFError) as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    table_rows = rows(results, args.tokens)
    print()
    print(table(table_rows))
    print()
    print(table_markdown(table_rows))
    print()
    print(per_run(results))
    print(f"\nwall time: {time.monotonic() - started:.1f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(
            msgspec.json.encode({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                 "runs": results}), indent=1))
        print(f"raw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
