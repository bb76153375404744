"""The project folder the built-in tools work in, and the one entry point that runs them.

`Workspace.run` is where a tool's failure becomes data: bad arguments, a refused path, a missing
file or any `OSError` come back as `ToolResult(..., is_error=True)` with a one-line message the
model can act on, so the chat loop never needs a try block around a tool. Only cancellation
propagates.

File work blocks (a search can read thousands of files), so it runs in a worker thread and other
chats keep streaming meanwhile. Reads, listings and writes are bounded and finish even when
cancelled (a write is never abandoned half-way); a search is abandoned on cancel and told to
stop at its next file.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Final, TypeVar

import msgspec
import trio

from . import files, paths, search, shell
from .result import ToolError, ToolResult, describe_os_error
from .specs import (
    ARGS,
    SPECS,
    ExecShellArgs,
    ListDirectoryArgs,
    ReadFileArgs,
    SearchFilesArgs,
    WriteFileArgs,
)

logger = logging.getLogger(__name__)

BUILTIN_NAMES: Final = ("read_file", "list_directory", "search_files", "write_file", "exec_shell")
NEEDS_APPROVAL: Final = frozenset({"write_file", "exec_shell"})
SHELL_DISABLED: Final = "exec_shell is disabled; start the sidecar with --allow-shell"

_ACTIONS: Final = {
    "read_file": "read",
    "list_directory": "list",
    "search_files": "search",
    "write_file": "write",
}

T = TypeVar("T")


class Workspace:
    """The built-in tools, confined to `root` (resolved once, here; it need not exist yet)."""

    def __init__(
        self, root: Path, *, allow_shell: bool = False, shell_timeout_s: float = 60.0
    ) -> None:
        self.root = Path(root).resolve()
        self.allow_shell = allow_shell
        self.shell_timeout_s = shell_timeout_s
        # The root as typed (e.g. through a symlinked /tmp) is another spelling of it.
        typed = PurePosixPath(os.path.abspath(root))
        self._aliases = () if typed == PurePosixPath(self.root) else (typed,)

    def available(self) -> tuple[str, ...]:
        if not paths.SUPPORTED:
            return ()  # no O_NOFOLLOW walk (Windows): no tool may touch the disk
        if self.allow_shell:
            return BUILTIN_NAMES
        return tuple(name for name in BUILTIN_NAMES if name != "exec_shell")

    def specs(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """Ollama tool definitions for these built-ins, in this order; raises `ValueError` for
        a name that is not a built-in."""
        result = []
        for name in names:
            if name not in SPECS:
                raise ValueError(f"unknown built-in tool {name!r}")
            result.append(copy.deepcopy(SPECS[name]))
        return result

    async def run(self, name: str, arguments: Any) -> ToolResult:
        """Runs one built-in tool call. Never raises for a tool's failure (see the module doc).

        Cancellation: raises `trio.Cancelled`; a running exec_shell has its process group
        killed and reaped first, a search is abandoned, a read or write finishes first.
        """
        try:
            result = await self._run(name, arguments)
        except ToolError as exc:
            result = ToolResult(str(exc), is_error=True)
        except OSError as exc:
            raw = _raw_path(arguments)
            action = _ACTIONS.get(name, "run")
            result = ToolResult(describe_os_error(action, raw, exc), is_error=True)
        except Exception as exc:  # a bug in a tool must not end the chat
            logger.exception("tool %s failed unexpectedly", name)
            result = ToolResult(f"{name} failed: {type(exc).__name__}: {exc}", is_error=True)
        logger.debug("tool %s -> is_error=%s, %d chars", name, result.is_error, len(result.content))
        return result

    async def _run(self, name: str, arguments: Any) -> ToolResult:
        if name not in BUILTIN_NAMES:
            raise ToolError(f"unknown tool {name!r}; built-in tools: {', '.join(self.available())}")
        if name == "exec_shell" and not self.allow_shell:
            raise ToolError(SHELL_DISABLED)
        args = _decode_arguments(name, arguments)
        match args:
            case ReadFileArgs(path=path):
                target = self._resolve(path)
                return ToolResult(await _in_thread(files.read_file, self.root, target))
            case ListDirectoryArgs(path=path):
                target = self._resolve(path or ".")  # "" too: the model means the root
                return ToolResult(await _in_thread(files.list_directory, self.root, target))
            case SearchFilesArgs(query=query, path=path, glob=glob):
                target = self._resolve(path or ".")
                return ToolResult(await _search(self.root, target, query, glob))
            case WriteFileArgs(path=path, content=content):
                if path.endswith("/"):
                    raise ToolError(f"cannot write {path!r}: the path ends with '/'; name a file")
                target = self._resolve(path)
                return ToolResult(await _in_thread(files.write_file, self.root, target, content))
            case ExecShellArgs(command=command):
                return await shell.exec_shell(
                    command, cwd=self.root, timeout_s=self.shell_timeout_s
                )
        raise AssertionError(f"no handler for {name}")  # pragma: no cover

    def _resolve(self, raw: str) -> paths.Target:
        return paths.resolve(self.root, raw, self._aliases)


def _decode_arguments(name: str, arguments: Any) -> msgspec.Struct:
    """Arguments as Ollama sends them (an object), or as a JSON string some models produce."""
    if arguments is None:
        arguments = {}
    elif isinstance(arguments, (str, bytes)):
        try:
            arguments = msgspec.json.decode(arguments)
        except msgspec.DecodeError as exc:
            raise ToolError(f"{name}: arguments are not valid JSON: {exc}") from None
    try:
        return msgspec.convert(arguments, ARGS[name])
    except msgspec.ValidationError as exc:
        raise ToolError(f"{name}: invalid arguments: {exc}") from None


def _raw_path(arguments: Any) -> str:
    path = arguments.get("path") if isinstance(arguments, dict) else None
    return path if isinstance(path, str) else "."


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await trio.to_thread.run_sync(fn, *args)


async def _search(root: Path, target: paths.Target, query: str, glob: str | None) -> str:
    stop = threading.Event()
    try:
        return await trio.to_thread.run_sync(
            search.search_files, root, target, query, glob, stop, abandon_on_cancel=True
        )
    finally:
        stop.set()
