"""Wiring and lifecycle: the tasks of one sidecar run and the ways it ends.

    root nursery ── the stdout writer (Outbox.run)
      └ request nursery ── one task per request (Server._serve)
          └ watcher nursery ── stdin reader, broken-stdout / stdout-reader / signal / parent
                               watchers

Every way to end funnels into `Server.stop(reason)`. Stdin EOF is the soft one: in-flight chats
may finish within --drain-timeout (so `ollama-sidecar < commands.jsonl` answers everything);
`shutdown`, SIGTERM/SIGINT, a vanished --parent-pid and a broken stdout cancel chats at once.
Either way every chat queues its one final answer before the writer is closed and drained, so
nothing already promised is lost, and the exit code is 0.

A host that dies closes its ends of both pipes. Stdin EOF alone would let a running chat (or an
`exec_shell` command) drain for a minute, so stdout is watched too: when its reader is gone
(`wait_stdout_gone`, see stdio.wait_reader_gone) the stop is urgent at once, with no write needed
to find out. And the drain is for a host that is still there (`ollama-sidecar < commands.jsonl`):
once stdin has closed, being re-parented (`orphaned`) means the host died, so the stop turns
urgent too. Cancelled chats kill their `exec_shell` process groups on the way out.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import msgspec
import trio

from . import __version__
from .config import Config
from .framing import LineSplitter, encode_line
from .outbox import Outbox
from .procs import process_alive
from .pump import Pump
from .methods import methods_for
from .protocol import PROTOCOL_VERSION, ReadyParams, notification
from .protocol import McpServerStatusParams
from .server import BIG_LINE_BYTES, Server
from .stdio import READ_SIZE

if TYPE_CHECKING:
    from .providers import Provider
    from .store import Store
    from .tools.mcp.hub import McpHub

logger = logging.getLogger(__name__)

PARENT_POLL_S: Final = 0.2
# After stdin EOF, how often to look whether the host that started us is gone. The kernel closes
# a dying parent's pipes before it re-parents its children, so EOF can come first by a moment.
ORPHAN_POLL_S: Final = 0.05
# How long the final answers may take to reach a host that is slow to read them.
FLUSH_TIMEOUT_S: Final = 5.0
FLUSH_TIMEOUT_URGENT_S: Final = 0.5  # signals and a lost parent: exit within a second
# Input lines handled between two checkpoints of the stdin reader.
DISPATCH_BATCH_LINES: Final = 16


def ready_line(config: Config) -> bytes:
    return encode_line(
        notification(
            "sidecar:ready",
            ReadyParams(
                name="ollama-sidecar",
                version=__version__,
                protocol=PROTOCOL_VERSION,
                ollama_url=config.base_url,
                pid=os.getpid(),
                provider=config.provider,
                methods=methods_for(config.provider, store=config.data_dir is not None),
            ),
        )
    )


async def serve(
    config: Config,
    stdin: trio.abc.ReceiveStream,
    stdout: trio.abc.SendStream,
    *,
    client: Provider | None = None,
    store: Store | None = None,
    handle_signals: bool = False,
    wait_stdout_gone: Callable[[], Awaitable[object]] | None = None,
    orphaned: Callable[[], bool] | None = None,
) -> str:
    """Runs the sidecar until it is told or forced to stop; returns the stop reason.

    `wait_stdout_gone`, when given, returns once nobody reads stdout any more (an urgent stop).
    `orphaned`, when given, tells whether the process that started the sidecar is gone; after
    stdin EOF that makes the stop urgent instead of a drain.
    """
    outbox = Outbox(stdout, config.output_buffer_bytes)
    try:
        async with trio.open_nursery() as root:
            root.start_soon(outbox.run)
            outbox.put(ready_line(config))
            if client is None:
                # Announce readiness first, then import the client: the host may start writing while
                # it loads (requests wait in the pipe), and start-up feels that much faster.
                await outbox.wait_drained()
                from .providers import make_client

                client = make_client(config)
            hub = None
            if any(not s.disabled for s in config.mcp_servers):
                hub = _start_mcp(config, outbox, root)
            pump = None
            if sys.platform != "win32":  # a socket is no fd there: chats keep the loop's reads
                pump = Pump(outbox)
                await root.start(pump.run)
            async with trio.open_nursery() as requests:
                server = Server(config, client, outbox, requests, store, hub, pump)
                if handle_signals:
                    # In the root nursery: a second SIGTERM during the drain and the final flush
                    # is absorbed too, instead of killing the process before its last answers.
                    root.start_soon(_watch_signals, server)
                async with trio.open_nursery() as watchers:
                    watchers.start_soon(read_requests, stdin, server)
                    watchers.start_soon(_watch_stdout, outbox, server)
                    if wait_stdout_gone is not None:
                        watchers.start_soon(_watch_stdout_reader, wait_stdout_gone, server)
                    if config.parent_pid is not None:
                        watchers.start_soon(_watch_parent, config.parent_pid, server)
                    if orphaned is not None:
                        watchers.start_soon(_watch_orphaned_while_draining, orphaned, server)
                    await server.finish()
                    watchers.cancel_scope.cancel()
            if hub is not None:
                await hub.close()  # after every chat answered: no MCP server outlives us
            outbox.close()
            urgent = server.stop_reason not in ("eof", "shutdown")
            with trio.move_on_after(FLUSH_TIMEOUT_URGENT_S if urgent else FLUSH_TIMEOUT_S):
                await outbox.drained.wait()
            root.cancel_scope.cancel()
    finally:
        if client is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                await client.aclose()
    assert server.stop_reason is not None
    return server.stop_reason


def _start_mcp(config: Config, outbox: Outbox, nursery: trio.Nursery) -> McpHub:
    """The MCP servers start concurrently, after `sidecar:ready` (the SDK loads in their task)."""
    from pathlib import Path

    from .tools.mcp.hub import McpHub

    def on_status(note: dict[str, object]) -> None:
        params = msgspec.convert(note, McpServerStatusParams)
        outbox.put(encode_line(notification("mcp:server_status", params)))

    hub = McpHub(config.mcp_servers, Path(config.root), on_status)
    nursery.start_soon(hub.run)
    return hub


async def read_requests(stdin: trio.abc.ReceiveStream, server: Server) -> None:
    """Feeds stdin's lines to the server until EOF (or until it stops accepting)."""
    splitter = LineSplitter(server.config.max_line_bytes)
    while server.accepting:
        try:
            data = await stdin.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            logger.warning("stdin failed (%s); treating it as closed", exc)
            data = b""
        lines = splitter.feed(data) if data else splitter.flush()
        for count, line in enumerate(lines, 1):
            if isinstance(line, bytes) and len(line) >= BIG_LINE_BYTES:
                await server.dispatch_big(line)  # decoded in pieces, the loop running
                continue
            server.dispatch(line)
            if count % DISPATCH_BATCH_LINES == 0:
                # A read can hold thousands of short lines: let streams in flight, signals and
                # watchers run between batches, so no burst stalls them more than a moment.
                await trio.lowlevel.checkpoint()
        if not data:
            server.stop("eof")
            return


async def _watch_stdout(outbox: Outbox, server: Server) -> None:
    await outbox.broken.wait()
    server.stop("stdout closed")


async def _watch_stdout_reader(
    wait_stdout_gone: Callable[[], Awaitable[object]], server: Server
) -> None:
    await wait_stdout_gone()
    server.stop("stdout has no reader")


async def _watch_signals(server: Server) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            server.stop(signal.Signals(signum).name)


async def _watch_parent(pid: int, server: Server) -> None:
    while process_alive(pid):
        await trio.sleep(PARENT_POLL_S)
    server.stop(f"parent process {pid} is gone")


async def _watch_orphaned_while_draining(orphaned: Callable[[], bool], server: Server) -> None:
    await server.wait_stopping()
    while not server.hard_stop:
        if server.handles and orphaned():
            server.stop("stdin closed and the parent process is gone")
            return
        await trio.sleep(ORPHAN_POLL_S)
