"""Log probabilities on a scripted `/api/chat` stream, for a request that asks for them.

Ollama (v0.12.11 and later) adds `"logprobs":[...]` to a chunk after `done_reason`, before the
metrics, one entry per token the runner produced for it: `{"token","logprob","bytes",
"top_logprobs"?}` (`top_logprobs` only when the request's `top_logprobs` > 0). Here each chunk
with text gets one entry for its thinking and one for its content (in that order), made up but
stable; chunks with no text get none. Pure code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec

from sidecar_testkit.fake_ollama.scenarios import Script
from sidecar_testkit.fake_ollama.wire import go_json


def wants_logprobs(request: Any) -> bool:
    return isinstance(request, dict) and request.get("logprobs") is True


def entry(token: str, top: int) -> dict[str, Any]:
    """The logprob entry of `token` (with `top` alternatives when `top` > 0)."""
    logprob = -round(0.01 * (1 + len(token) % 7), 4)
    item: dict[str, Any] = {"token": token, "logprob": logprob}
    if token:
        item["bytes"] = list(token.encode())
    if top > 0:
        alternatives = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        for n in range(1, top):
            alt = f"alt{n}"
            alternatives.append({"token": alt, "logprob": logprob - n, "bytes": list(alt.encode())})
        item["top_logprobs"] = alternatives
    return item


def with_logprobs(script: Script, request: dict[str, Any]) -> Script:
    """`script` with a `logprobs` list on every chunk that carries text."""
    if script.body is not None or not script.lines:
        return script
    top = request.get("top_logprobs")
    top = top if isinstance(top, int) and not isinstance(top, bool) else 0
    lines = []
    for line in script.lines:
        try:
            chunk = msgspec.json.decode(line)
        except msgspec.DecodeError:
            lines.append(line)
            continue
        message = chunk.get("message") if isinstance(chunk, dict) else None
        if not isinstance(message, dict):
            lines.append(line)
            continue
        entries = [
            entry(text, top)
            for text in (message.get("thinking"), message.get("content"))
            if isinstance(text, str) and text
        ]
        if not entries:
            lines.append(line)
            continue
        out: dict[str, Any] = {}
        placed = False
        for key, value in chunk.items():
            if not placed and key in ("total_duration", "load_duration", "prompt_eval_count"):
                out["logprobs"] = entries
                placed = True
            out[key] = value
        if not placed:
            out["logprobs"] = entries
        lines.append(go_json(out) + b"\n")
    return replace(script, lines=lines)
