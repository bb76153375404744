"""Command line: `python -m sidecar_testkit.fake_ollama [--host H] [--port P] [--scenario S] [--pace S]
[--openai-flavour llama-server|ollama] [--api-key KEY]`.

Why it is built this way: a shell developer (or a script) starts it like a real Ollama and needs
to learn where it listens even with `--port 0`, so the only stdout output is one JSON line,
`{"url": "http://127.0.0.1:PORT"}`, written and flushed as soon as the socket listens.
Everything else (each request, its scenario, client disconnects) is logged to stderr. It serves
until SIGINT or SIGTERM and then exits 0. `--list` prints the scenarios and exits.

It speaks both dialects at once: Ollama's `/api/chat` and the OpenAI-compatible
`/v1/chat/completions` and `/v1/models` (point an OpenAI client at `URL/v1`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Final

import trio

from sidecar_testkit.fake_ollama.openai_wire import DEFAULT_FLAVOUR, FLAVOURS
from sidecar_testkit.fake_ollama.scenarios import ERROR_SCENARIOS, SCENARIOS, describe
from sidecar_testkit.fake_ollama.server import ScriptedOllama

DEFAULT_PORT: Final = 11434
DEFAULT_PACE_S: Final = 0.05

logger = logging.getLogger("sidecar_testkit.fake_ollama")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar_testkit.fake_ollama",
        description=(
            "A scripted Ollama: the request's model names the scenario to play. It speaks "
            "Ollama's /api/chat and /api/tags, and the OpenAI-compatible /v1/chat/completions "
            "(SSE) and /v1/models at the same time: point `ollama-sidecar --provider openai "
            "--base-url http://HOST:PORT/v1` at it (see --openai-flavour, --api-key)."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help="port, 0 for any free one (default %(default)s)",
    )
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), metavar="NAME",
        help="play this scenario for every chat request, whatever its model",
    )
    parser.add_argument(
        "--pace", type=float, default=DEFAULT_PACE_S,
        help="seconds between streamed lines (default %(default)s)",
    )
    parser.add_argument(
        "--openai-flavour", choices=FLAVOURS, default=DEFAULT_FLAVOUR,
        help="whose /v1 stream to imitate: llama.cpp's llama-server (tool-call arguments in "
        "fragments) or Ollama's (whole tool calls) (default %(default)s)",
    )
    parser.add_argument(
        "--api-key", metavar="KEY",
        help="answer /v1 requests without 'Authorization: Bearer KEY' with 401",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser


def _scenario_list() -> str:
    width = max(map(len, SCENARIOS))
    rows = []
    for name, factory in SCENARIOS.items():
        kind = " (error)" if name in ERROR_SCENARIOS else ""
        rows.append(f"{name:<{width}}  {describe(factory)}{kind}\n")
    return "".join(rows)


async def _serve(server: ScriptedOllama) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            sys.stdout.write(json.dumps({"url": server.url}) + "\n")
            sys.stdout.flush()
            async for signum in signals:
                logger.info("stopping on %s", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        sys.stdout.write(_scenario_list())
        return 0
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    server = ScriptedOllama(
        scenario=args.scenario, pace=args.pace, host=args.host, port=args.port,
        openai_flavour=args.openai_flavour, api_key=args.api_key,
    )
    failure: BaseException | None = None
    try:
        trio.run(_serve, server)
    except* OSError as group:  # from binding, wrapped by the nursery
        failure = group
        while isinstance(failure, BaseExceptionGroup):
            failure = failure.exceptions[0]
    if failure is not None:
        logger.error("cannot listen on %s port %s: %s", args.host, args.port, failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
