"""`scripts/demo`'s pull: `pull_model` through a real sidecar, drawn as a terminal progress bar.

`render` is pure (a progress notification's params and the time in, one line of text out), so the
bar is tested without a terminal. On a terminal the bar redraws in place (`\\r`) at most about 10
times a second; elsewhere (a pipe, a log file) one plain line is written per change of `status`,
so a captured log stays short. Ctrl+C during the pull sends `cancel_request`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

import trio

from .harness import Line, SidecarProcess

BAR_WIDTH: Final = 24
UNITS: Final = ("B", "KB", "MB", "GB", "TB")


def human_bytes(n: float) -> str:
    unit = 0
    while n >= 1000 and unit < len(UNITS) - 1:
        n /= 1000
        unit += 1
    return f"{n:.0f} {UNITS[unit]}" if unit == 0 else f"{n:.1f} {UNITS[unit]}"


class Speed:
    """Bytes per second over the progress seen so far (first sample to the latest)."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None
        self.value = 0.0

    def update(self, now: float, completed: int) -> float:
        if self._first is None or completed < self._first[1]:
            self._first = (now, completed)
        elapsed = now - self._first[0]
        if elapsed > 0:
            self.value = (completed - self._first[1]) / elapsed
        return self.value


def render(progress: dict[str, Any], speed: float, width: int = BAR_WIDTH) -> str:
    """One line: status, bar, percent, bytes, speed (the bar only once a size is known)."""
    status = progress.get("status", "")
    total = progress.get("total") or 0
    completed = progress.get("completed") or 0
    if not total:
        return status
    fraction = min(completed / total, 1.0)
    filled = round(fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    rate = f"  {human_bytes(speed)}/s" if speed > 0 and fraction < 1 else ""
    return (
        f"{status:<28.28} [{bar}] {fraction * 100:3.0f}%  "
        f"{human_bytes(completed)} / {human_bytes(total)}{rate}"
    )


async def pull_with_bar(
    sidecar: SidecarProcess, model: str, out: TextIO = sys.stderr,
    clock: Callable[[], float] = trio.current_time,
) -> dict[str, Any]:
    """Sends `pull_model` and draws its progress until the answer, which it returns (the whole
    response: `result` or `error`). Ctrl+C sends `cancel_request` (the answer then says
    `cancelled`)."""
    pull_id = await sidecar.request("pull_model", {"model": model})
    tty = out.isatty()
    speed = Speed()
    handled: set[int] = set()
    last_status = None

    def ours(line: Line) -> bool:
        if id(line) in handled:
            return False
        value = line.value
        if line.is_response:
            return value.get("id") == pull_id
        return line.method == "model:pull_progress" and value["params"].get("request_id") == pull_id

    with trio.open_signal_receiver(signal.SIGINT) as sigint:
        async with trio.open_nursery() as nursery:

            async def on_interrupt() -> None:
                async for _ in sigint:
                    out.write("\n[stopping the download: cancel_request sent]\n")
                    out.flush()
                    await sidecar.request("cancel_request", {"id": pull_id})

            nursery.start_soon(on_interrupt)
            while True:
                line = await sidecar.wait_for(ours)
                handled.add(id(line))
                if line.is_response:
                    nursery.cancel_scope.cancel()
                    if tty:
                        out.write("\n")
                    out.flush()
                    return line.value
                progress = line.value["params"]
                text = render(progress, speed.update(clock(), progress["completed"]))
                if tty:
                    out.write("\r\x1b[2K" + text)
                elif progress["status"] != last_status:
                    out.write(text + "\n")
                last_status = progress["status"]
                out.flush()
    raise AssertionError("unreachable")
