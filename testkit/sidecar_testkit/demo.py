"""`scripts/demo`: one chat through a real sidecar process, streamed to the terminal.

Uses the Ollama at OLLAMA_HOST when it answers (the model: --model, else OLLAMA_MODEL, else the
first installed one); otherwise starts the project's scripted Ollama in this process and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

import httpx
import trio

from sidecar.config import parse_ollama_host
from .fake_ollama import open_scripted_ollama
from .harness import chat_interactively, open_sidecar

PROBE_TIMEOUT_S: Final = 2.0
DEFAULT_PROMPT: Final = "Why is the sky blue? Answer in two sentences."


async def find_real_ollama(url: str) -> tuple[bool, list[str]]:
    """Whether Ollama answers at `url`, and the names of its installed models."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=PROBE_TIMEOUT_S, trust_env=False) as http:
            (await http.get("/api/version")).raise_for_status()
            tags = (await http.get("/api/tags")).json()
    except (httpx.HTTPError, ValueError):
        return False, []
    return True, [m["name"] for m in tags.get("models", []) if isinstance(m, dict)]


def say(text: str) -> None:
    if sys.stderr.isatty():
        text = f"\x1b[36m{text}\x1b[0m"
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def run_demo(prompt: str, model: str | None) -> int:
    url = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    reachable, models = await find_real_ollama(url)
    model = model or os.environ.get("OLLAMA_MODEL") or (models[0] if models else None)
    params = {"messages": [{"role": "user", "content": prompt}]}
    if reachable and model:
        say(f"Using Ollama at {url} with model {model}.")
        return await chat(url, model, params)
    if reachable:
        say(f"Ollama answers at {url} but has no models (run `ollama pull llama3.2`).")
    else:
        say(f"No Ollama answered at {url}.")
    async with open_scripted_ollama(pace=0.04) as fake:
        say(
            f"Started the project's scripted Ollama at {fake.url} instead: the reply below is "
            "canned, but it streams through a real sidecar process. Start Ollama (or set "
            "OLLAMA_HOST) to talk to a real model."
        )
        return await chat(fake.url, "demo", params)


async def chat(url: str, model: str, params: dict) -> int:
    sidecar_args = ["--ollama-url", url, "--model", model]
    async with open_sidecar(*sidecar_args, echo_stderr=True, new_session=True) as sidecar:
        say(f"sidecar pid {sidecar.ready['pid']} is ready (protocol {sidecar.ready['protocol']}); "
            "Ctrl+C stops the reply.\n")
        return await chat_interactively(sidecar, params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default=DEFAULT_PROMPT)
    parser.add_argument("--model", help="model to use with a real Ollama")
    args = parser.parse_args(argv)
    return trio.run(run_demo, args.prompt, args.model)


if __name__ == "__main__":
    sys.exit(main())
