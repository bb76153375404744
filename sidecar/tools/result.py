"""What a tool run produces, and the one exception that carries a tool's failure.

A tool's failure is data for the model, never a protocol error: the tool functions raise
`ToolError` with a one-line message that names the path and the rule or cause, and exactly one
place (`Workspace.run`) turns it, and any `OSError`, into `ToolResult(..., is_error=True)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


class ToolError(Exception):
    """A tool failed in a way the model should hear about; `str(exc)` is the whole message."""


class PathRefused(ToolError):
    """A path broke one of the root's rules (see `paths.py`)."""

    def __init__(self, raw: str, rule: str) -> None:
        super().__init__(f"refused path {raw!r}: {rule}")
        self.raw = raw
        self.rule = rule


def describe_os_error(action: str, raw: str, exc: OSError) -> str:
    """`cannot read 'a.txt': No such file or directory`, without the absolute host path."""
    cause = exc.strerror or (os.strerror(exc.errno) if exc.errno else type(exc).__name__)
    return f"cannot {action} {raw!r}: {cause}"
