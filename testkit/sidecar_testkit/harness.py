"""A stdio harness: spawn a real sidecar, talk to it over its pipes, watch what it writes.

The Python API is what the end-to-end tests (and anyone testing a shell's expectations) use:

    async with open_sidecar("--model", "llama3.2", env={"OLLAMA_HOST": url}) as sidecar:
        chat_id = await sidecar.request("chat", {"messages": [...]})
        response = await sidecar.response(chat_id)
        tokens = sidecar.notifications("chat:token", chat_id)

Every stdout line is kept in arrival order (`sidecar.lines`, with the arrival time), so tests can
assert ordering across notifications and responses. Stderr is collected for failure messages.

`python -m sidecar_testkit.harness "prompt"` is the same thing for a person: it prints the reply as it
streams; Ctrl+C sends `cancel_chat` (a second Ctrl+C stops the sidecar).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import trio

READY_TIMEOUT_S: Final = 30.0
_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


@dataclass(frozen=True)
class Line:
    """One decoded stdout line and when it arrived (time.monotonic())."""

    value: Any
    raw: bytes
    received_at: float

    @property
    def method(self) -> str | None:
        return self.value.get("method") if isinstance(self.value, dict) else None

    @property
    def is_response(self) -> bool:
        return isinstance(self.value, dict) and "method" not in self.value


class SidecarProcess:
    """A running sidecar. Create it with `open_sidecar`."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.lines: list[Line] = []
        self.stderr = bytearray()
        self.ready: dict[str, Any] = {}
        self.stdout_closed = trio.Event()
        self._changed = trio.lowlevel.ParkingLot()
        self._next_id = 1
        # id -> the `method` of every request line sent with that id (whatever was sent, raw
        # bytes included), so that a check of the output can tell what each response answers.
        self.sent: dict[int | str, list[Any]] = {}
        self._sent_partial = bytearray()

    # --- sending ------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self._note_sent(data)
        await self.process.stdin.send_all(data)

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.send_raw(_encoder.encode(message) + b"\n")

    async def request(
        self, method: str, params: Any = None, *, id: int | str | None = None
    ) -> int | str:
        """Sends a request and returns its id (a fresh integer unless given)."""
        if id is None:
            id, self._next_id = self._next_id, self._next_id + 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return id

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Request and wait for its response (the whole response object)."""
        return await self.response(await self.request(method, params))

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self._note_line(bytes(self._sent_partial))  # the sidecar serves an unterminated line
        self._sent_partial.clear()
        await self.process.stdin.aclose()

    def _note_sent(self, data: bytes) -> None:
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            self._sent_partial += data[start:end]
            self._note_line(bytes(self._sent_partial))
            self._sent_partial.clear()
            start = end + 1
        self._sent_partial += data[start:]

    def _note_line(self, raw: bytes) -> None:
        try:
            value = _decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):  # the sidecar answers it with id null
            return
        if isinstance(value, dict) and type(value.get("id")) in (int, str):
            self.sent.setdefault(value["id"], []).append(value.get("method"))

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    # --- receiving ----------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[Line], bool]) -> Line:
        """The first line (already received or yet to come) for which `predicate` holds.

        Raises `EOFError` if stdout closes first.
        """
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.stdout_closed.is_set():
                raise EOFError(f"stdout closed; stderr:\n{self.stderr.decode(errors='replace')}")
            await self._changed.park()

    async def response(self, id: int | str | None) -> dict[str, Any]:
        line = await self.wait_for(lambda l: l.is_response and l.value.get("id") == id)
        return line.value

    def responses(self) -> list[dict[str, Any]]:
        return [line.value for line in self.lines if line.is_response]

    def notifications(self, method: str | None = None, chat_id: Any = ...) -> list[dict[str, Any]]:
        """Params of the notifications received so far, filtered by method and chat_id."""
        return [
            line.value["params"]
            for line in self.lines
            if line.method is not None
            and (method is None or line.method == method)
            and (chat_id is ... or line.value["params"].get("chat_id") == chat_id)
        ]

    def text(self, chat_id: Any, method: str = "chat:token") -> str:
        return "".join(p["content"] for p in self.notifications(method, chat_id))

    async def wait_exit(self) -> int:
        await self.stdout_closed.wait()
        return await self.process.wait()

    # --- the reader tasks ---------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        try:
            while True:
                try:
                    data = await self.process.stdout.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    return
                buffer += data
                *complete, buffer = buffer.split(b"\n")
                now = time.monotonic()
                for raw in complete:
                    self.lines.append(Line(_decoder.decode(raw), raw, now))
                if complete:
                    if not self.ready and self.lines[0].method == "sidecar:ready":
                        self.ready = self.lines[0].value["params"]
                    self._changed.unpark_all()
        finally:
            self.stdout_closed.set()
            self._changed.unpark_all()

    async def _read_stderr(self, echo: bool) -> None:
        assert self.process.stderr is not None
        while True:
            try:
                data = await self.process.stderr.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            self.stderr += data
            if echo:
                os.write(2, data)


def sidecar_command() -> list[str]:
    return [sys.executable, "-m", "sidecar"]


@asynccontextmanager
async def open_sidecar(
    *args: str,
    env: Mapping[str, str] | None = None,
    echo_stderr: bool = False,
    new_session: bool = False,
    stdout: int | None = None,
    command: Sequence[str] | None = None,
) -> AsyncIterator[SidecarProcess]:
    """Spawns `python -m sidecar ARGS`, waits for `sidecar:ready`, and kills it on exit.

    `env` is added to this process's environment (without OLLAMA_HOST unless given).
    `command` replaces `python -m sidecar` (e.g. the frozen binary from scripts/build-sidecar).
    """
    full_env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    full_env.update(env or {})
    process = await trio.lowlevel.open_process(
        [*(sidecar_command() if command is None else command), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        env=full_env,
        start_new_session=new_session,
    )
    sidecar = SidecarProcess(process)
    try:
        async with trio.open_nursery() as nursery:
            if process.stdout is not None:
                nursery.start_soon(sidecar._read_stdout)
            else:
                sidecar.stdout_closed.set()
            nursery.start_soon(sidecar._read_stderr, echo_stderr)
            if process.stdout is not None:
                with trio.fail_after(READY_TIMEOUT_S):
                    await sidecar.wait_for(lambda line: True)
            yield sidecar
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


# --- the command line ----------------------------------------------------------------------


async def run_cli(args: argparse.Namespace) -> int:
    sidecar_args = list(args.sidecar_args)
    if not {"--data-dir", "--no-store"} & set(sidecar_args):
        sidecar_args.append("--no-store")  # a one-shot prompt keeps no conversation
    if args.model:
        sidecar_args += ["--model", args.model]
    if args.ollama_url:
        sidecar_args += ["--ollama-url", args.ollama_url]
    env = {"OLLAMA_HOST": os.environ["OLLAMA_HOST"]} if "OLLAMA_HOST" in os.environ else {}
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    params: dict[str, Any] = {"messages": messages}
    if args.think is not None:
        params["think"] = args.think
    # Our own session: the terminal's Ctrl+C reaches the harness, which turns it into cancel_chat.
    async with open_sidecar(*sidecar_args, env=env, echo_stderr=True, new_session=True) as sidecar:
        if not args.model:
            # No --model: like `ollama run` without a name would, take an installed one.
            models = await sidecar.call("list_models")
            if "error" in models:
                return _report(models)
            names = [m["name"] for m in models["result"]["models"]]
            if not names:
                sys.stderr.write("no models installed in Ollama; run `ollama pull llama3.2`\n")
                return 1
            params["model"] = os.environ.get("OLLAMA_MODEL") or names[0]
            sys.stderr.write(f"[model {params['model']}]\n")
        return await chat_interactively(sidecar, params)


async def chat_interactively(sidecar: SidecarProcess, params: dict[str, Any]) -> int:
    out = sys.stdout
    dim, plain = ("\x1b[2m", "\x1b[0m") if out.isatty() else ("", "")
    chat_id = await sidecar.request("chat", params)
    interrupts = 0
    with trio.open_signal_receiver(signal.SIGINT) as sigint:
        async with trio.open_nursery() as nursery:

            async def on_interrupt() -> None:
                nonlocal interrupts
                async for _ in sigint:
                    interrupts += 1
                    if interrupts == 1:
                        out.write("\n[stopping: cancel_chat sent; Ctrl+C again to kill]\n")
                        out.flush()
                        await sidecar.request("cancel_chat", {"chat_id": chat_id})
                    else:
                        sidecar.process.kill()

            nursery.start_soon(on_interrupt)
            seen = 0
            thinking = False
            while True:
                try:
                    await sidecar.wait_for(lambda _: len(sidecar.lines) > seen)
                except EOFError:
                    out.write("\n[the sidecar exited before answering]\n")
                    return 1
                for line in sidecar.lines[seen:]:
                    value = line.value
                    method = line.method
                    params_in = value.get("params", {}) if method else {}
                    if method == "chat:thinking" and params_in.get("chat_id") == chat_id:
                        if not thinking:
                            out.write(f"{dim}[thinking] ")
                            thinking = True
                        out.write(params_in["content"])
                    elif method == "chat:token" and params_in.get("chat_id") == chat_id:
                        if thinking:
                            out.write(f"{plain}\n")
                            thinking = False
                        out.write(params_in["content"])
                    elif method == "chat:tool_call" and params_in.get("chat_id") == chat_id:
                        out.write(
                            f"\n[tool call {params_in['name']}"
                            f"({_encoder.encode(params_in['arguments']).decode()})]\n"
                        )
                    elif line.is_response and value.get("id") == chat_id:
                        if thinking:
                            out.write(plain)
                        out.write("\n")
                        out.flush()
                        nursery.cancel_scope.cancel()
                        return _report(value)
                out.flush()
                seen = len(sidecar.lines)
    return 1


def _report(response: dict[str, Any]) -> int:
    if "error" in response:
        error = response["error"]
        sys.stderr.write(f"error {error['code']} ({error['data']['kind']}): {error['message']}\n")
        if hint := error["data"].get("hint"):
            sys.stderr.write(f"hint: {hint}\n")
        return 1
    result = response["result"]
    usage = result["usage"]
    sys.stderr.write(
        f"[{result['done_reason']}: {usage['completion_tokens']} tokens, "
        f"{usage['tokens_per_second']} tokens/s, {usage['duration_ms']} ms]\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar_testkit.harness",
        description="Spawn a sidecar, send one chat, print the reply as it streams.",
    )
    parser.add_argument("prompt", help="the user message")
    parser.add_argument("--model", help="model name (passed as --model to the sidecar)")
    parser.add_argument("--ollama-url", help="Ollama's URL (default: OLLAMA_HOST)")
    parser.add_argument("--system", help="a system message to send first")
    think = parser.add_mutually_exclusive_group()
    think.add_argument("--think", dest="think", action="store_true", default=None)
    think.add_argument("--no-think", dest="think", action="store_false")
    parser.add_argument(
        "sidecar_args", nargs="*", help="extra sidecar flags, after `--`", metavar="-- FLAGS"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return trio.run(run_cli, args)


if __name__ == "__main__":
    sys.exit(main())
