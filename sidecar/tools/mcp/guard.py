"""No MCP server outlives the sidecar: process groups the sidecar owns, and a watchdog.

Every stdio server is started by the SDK's `stdio_client` in a session of its own (its process
group holds the server and whatever it starts: `npx` runs `node` as a grandchild). `install`
wraps the SDK's spawn so that each new group is told, synchronously, to the `Reaper`:

- `Reaper` is one tiny `/bin/sh` watchdog in a session of its own whose stdin is a pipe only the
  sidecar holds. It reads `+PGID` / `-PGID` lines; at EOF, which the kernel delivers whenever the
  sidecar ends (exit, crash, SIGKILL), it SIGKILLs every group still registered, then exits. It
  needs nothing Linux-only (macOS gets the same), and no Python (the frozen binary too).
- On a clean stop the hub (hub.py) ends each server through the SDK (stdin closed, then the
  group killed) and `kill_all` SIGKILLs what is left after a short grace.

On Windows the SDK itself puts each server in a Job Object, killed with its tree when the job
closes; the `Reaper` is not used there.
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any, Final

logger = logging.getLogger(__name__)

# Reads registrations until EOF, then kills every group still registered.
_WATCHDOG: Final = r"""
trap '' INT TERM HUP
groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ ${line#-} / /") ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
exit 0
"""

# The process object the SDK's spawn returned, for the task that entered `stdio_client`.
spawned: contextvars.ContextVar[Callable[[Any], None] | None] = contextvars.ContextVar(
    "mcp_spawned", default=None
)


class Reaper:
    """The watchdog process; `register` / `unregister` a server's process group."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.groups: set[int] = set()
        if sys.platform == "win32":
            return
        read_fd, write_fd = os.pipe()
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", _WATCHDOG],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # no terminal's Ctrl-C, no group kill aimed at us
                close_fds=True,
            )
        except OSError as exc:
            os.close(write_fd)
            logger.warning("cannot start the MCP watchdog (%s): a SIGKILLed sidecar may leave servers", exc)
            return
        finally:
            os.close(read_fd)
        self._fd = write_fd

    def register(self, pgid: int) -> None:
        self.groups.add(pgid)
        self._send(f"+{pgid}\n")

    def unregister(self, pgid: int) -> None:
        self.groups.discard(pgid)
        self._send(f"-{pgid}\n")

    def kill_all(self) -> None:
        """SIGKILLs every registered group now (the stop's last word)."""
        for pgid in list(self.groups):
            kill_group(pgid)
            self.unregister(pgid)

    def close(self) -> None:
        """Ends the watchdog (it kills what is still registered: nothing, after `kill_all`)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._process is not None:
            try:
                self._process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:  # the watchdog is gone: say so once and go on
            logger.warning("MCP watchdog gone (%s)", exc)
            os.close(self._fd)
            self._fd = None


def kill_group(pgid: int) -> None:
    if sys.platform == "win32":
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_installed = False


def install() -> None:
    """Wraps the SDK's spawn (`mcp.client.stdio`) so each new server is handed to `spawned`."""
    global _installed
    if _installed:
        return
    import mcp.client.stdio as stdio

    original = stdio._create_platform_compatible_process

    async def spawn(*args: Any, **kwargs: Any) -> Any:
        process = await original(*args, **kwargs)
        hook = spawned.get()
        if hook is not None:
            hook(process)  # synchronous: no checkpoint between the spawn and the registration
        return process

    stdio._create_platform_compatible_process = spawn
    _installed = True
