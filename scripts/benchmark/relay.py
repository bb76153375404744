"""What a user would write instead of the sidecar: the official `ollama` client as a relay.

    python -m benchmark.relay --host URL --model M --prompt TAG [--prompt TAG2 ...]

`ollama.AsyncClient(host=URL).chat(model=..., messages=..., stream=True)`, and for every chunk
with content one JSON-RPC `chat:token` line on stdout, written and flushed at once (a relay must
stream), then one response line like the sidecar's, so the same reader consumes both. Several
prompts run as concurrent chats (ids 1, 2, ... in the order given), in one asyncio loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import ollama


def _line(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def relay(host: str, model: str, prompts: list[str]) -> int:
    client = ollama.AsyncClient(host=host)
    await asyncio.gather(*(chat(client, model, prompt, i) for i, prompt in enumerate(prompts, 1)))
    return 0


async def chat(client: ollama.AsyncClient, model: str, prompt: str, chat_id: int) -> None:
    out = sys.stdout.buffer
    parts: list[str] = []
    done_reason = None
    stream = await client.chat(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True
    )
    async for part in stream:
        content = part.message.content
        if content:
            parts.append(content)
            out.write(
                _line(
                    {
                        "jsonrpc": "2.0",
                        "method": "chat:token",
                        "params": {"chat_id": chat_id, "content": content},
                    }
                )
            )
            out.flush()
        if part.done:
            done_reason = part.done_reason
    message = {"role": "assistant", "content": "".join(parts)}
    result = {"done_reason": done_reason or "stop", "messages": [message]}
    out.write(_line({"jsonrpc": "2.0", "id": chat_id, "result": result}))
    out.flush()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.relay")
    parser.add_argument("--host", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", required=True, action="append")
    args = parser.parse_args()
    return asyncio.run(relay(args.host, args.model, args.prompt))


if __name__ == "__main__":
    sys.exit(main())
