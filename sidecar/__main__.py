"""`ollama-sidecar` / `python -m sidecar`: the only module that touches fds, sys and trio.run."""

from __future__ import annotations

import logging
import os
import signal
import sys
from functools import partial
from pathlib import Path

import trio

from .app import serve
from .config import load_config
from .store import StoreOpenError, open_store
from .stdio import (
    claim_stdout,
    open_input,
    open_output,
    reserve_stdin,
    wait_reader_gone,
)


def main(argv: list[str] | None = None) -> int:
    # Who started us. After stdin EOF, a different parent means the host died: no drain then.
    # (Windows never re-parents, and relies on --parent-pid and a broken stdout.)
    started_by = os.getppid()
    config = load_config(argv)
    store = None
    if config.data_dir is not None:
        try:
            store = open_store(Path(config.data_dir))
        except StoreOpenError as exc:  # like a bad flag: a message, a hint, exit status 2
            sys.stderr.write(f"ollama-sidecar: error: {exc.message}\nhint: {exc.hint}\n")
            return 2
    reserve_stdin()
    protocol_fd = claim_stdout()  # from here on, fd 1 is stderr
    logging.basicConfig(
        stream=sys.stderr,
        level=config.log_level,
        format="%(asctime)s ollama-sidecar %(levelname)s %(name)s: %(message)s",
    )
    logger = logging.getLogger("sidecar")

    async def run() -> str:
        threads = config.stdio == "threads"
        return await serve(
            config,
            open_input(0, threads=threads),
            open_output(protocol_fd, threads=threads),
            store=store,
            handle_signals=True,
            wait_stdout_gone=partial(wait_reader_gone, protocol_fd),
            orphaned=lambda: os.getppid() != started_by,
        )

    try:
        reason = trio.run(run)
    except Exception:
        logger.exception("ollama-sidecar crashed")
        return 1
    finally:
        if store is not None:
            store.close()
        # Exiting from here on: a late SIGTERM or SIGINT must not turn exit 0 into a kill.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logger.info("exiting: %s", reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
