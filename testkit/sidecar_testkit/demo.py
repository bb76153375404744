"""`scripts/demo`: one chat through a real sidecar process, streamed to the terminal.

Uses the Ollama at OLLAMA_HOST when it answers (the model: --model, else OLLAMA_MODEL, else the
first installed one, else DEFAULT_PULL_MODEL); otherwise starts the project's scripted Ollama in
this process and says so.

When that Ollama lacks the model, the demo offers to pull it (`pull_model` through the sidecar,
drawn as a progress bar by `pull_bar.py`), asking on the terminal. Without a terminal to ask
(stdin or stderr not a tty: CI, a pipe) it never downloads unasked and never waits for an
answer: it says how to pull (`--pull`, or `ollama pull NAME`) and plays the scripted Ollama
instead. `--pull` pulls without asking.
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
from .harness import SidecarProcess, chat_interactively, open_sidecar
from .pull_bar import pull_with_bar

PROBE_TIMEOUT_S: Final = 2.0
DEFAULT_PROMPT: Final = "Why is the sky blue? Answer in two sentences."
DEFAULT_PULL_MODEL: Final = "gemma3:270m"  # about 300 MB: the smallest model worth a demo


def installed(model: str, names: list[str]) -> bool:
    full = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
    return model in names or full in names


def interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()


async def ask(question: str) -> bool:
    """A yes/no question on the terminal (Enter means yes); EOF means no."""
    sys.stderr.write(question + " [Y/n] ")
    sys.stderr.flush()
    try:
        answer = await trio.to_thread.run_sync(input, abandon_on_cancel=True)
    except EOFError:
        return False
    return answer.strip().lower() in ("", "y", "yes")


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


async def run_demo(prompt: str, model: str | None, pull: bool = False) -> int:
    url = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    reachable, models = await find_real_ollama(url)
    model = model or os.environ.get("OLLAMA_MODEL") or (models[0] if models else DEFAULT_PULL_MODEL)
    params = {"messages": [{"role": "user", "content": prompt}]}
    if reachable and installed(model, models):
        say(f"Using Ollama at {url} with model {model}.")
        return await chat(url, model, params)
    if reachable:
        say(f"Ollama answers at {url} but has no model {model}.")
        if not pull and interactive():
            pull = await ask(f"Pull {model} now?")
        elif not pull:
            say(
                f"Not downloading it without asking (no terminal to ask on): run "
                f"`scripts/demo --pull --model {model}` or `ollama pull {model}`."
            )
        if pull:
            return await chat(url, model, params, pull=True)
    else:
        say(f"No Ollama answered at {url}.")
    async with open_scripted_ollama(pace=0.04) as fake:
        say(
            f"Started the project's scripted Ollama at {fake.url} instead: the reply below is "
            "canned, but it streams through a real sidecar process. Start Ollama (or set "
            "OLLAMA_HOST) to talk to a real model."
        )
        return await chat(fake.url, "demo", params)


async def chat(url: str, model: str, params: dict, *, pull: bool = False) -> int:
    # One reply, kept nowhere: the demo never writes to the user data folder.
    sidecar_args = ["--ollama-url", url, "--model", model, "--no-store"]
    async with open_sidecar(*sidecar_args, echo_stderr=True, new_session=True) as sidecar:
        if pull and not await pull_model(sidecar, model):
            return 1
        say(f"sidecar pid {sidecar.ready['pid']} is ready (protocol {sidecar.ready['protocol']}); "
            "Ctrl+C stops the reply.\n")
        return await chat_interactively(sidecar, params)


async def pull_model(sidecar: SidecarProcess, model: str) -> bool:
    say(f"Pulling {model} (Ctrl+C stops the download; a later pull resumes it):")
    answer = await pull_with_bar(sidecar, model)
    if "error" in answer:
        error = answer["error"]
        say(f"The pull failed: {error['message']}")
        if hint := error["data"].get("hint"):
            say(f"hint: {hint}")
        return False
    if answer["result"]["status"] != "success":
        say("The download was stopped.")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default=DEFAULT_PROMPT)
    parser.add_argument("--model", help="model to use with a real Ollama")
    parser.add_argument(
        "--pull", action="store_true",
        help="pull the model without asking when Ollama lacks it (else asked on a terminal only)",
    )
    args = parser.parse_args(argv)
    return trio.run(run_demo, args.prompt, args.model, args.pull)


if __name__ == "__main__":
    sys.exit(main())
