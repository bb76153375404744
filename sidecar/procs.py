"""Whether a process is still there, and who a process is (its pid and start time).

The parent watch (app.py) asks whether the host is alive; the store (store/) records which
process owns a reply in flight or a thread's lease, and asks later whether that process is
gone. A pid alone can be reused after a crash, so an owner is its pid and its start time.
"""

from __future__ import annotations

import os
import sys


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    if sys.platform == "win32":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The state letter follows the parenthesised command name, which may hold spaces.
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _windows_process_alive(pid: int) -> bool:
    # Not os.kill(pid, 0): on Windows any signal but the two CTRL events is TerminateProcess.
    import ctypes

    synchronize, query_limited_information = 0x00100000, 0x1000
    access_denied, wait_timeout = 5, 0x102
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(synchronize | query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == access_denied  # type: ignore[attr-defined]
    try:
        return kernel32.WaitForSingleObject(handle, 0) == wait_timeout
    finally:
        kernel32.CloseHandle(handle)


def start_time(pid: int) -> int | None:
    """When `pid` started, in the kernel's clock ticks since boot (Linux); None elsewhere or
    when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def owner_alive(pid: int, started: int | None) -> bool:
    """True while the process that was `pid` when it recorded `started` still runs."""
    if not process_alive(pid):
        return False
    return started is None or start_time(pid) in (None, started)
