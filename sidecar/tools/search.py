"""search_files: a case-insensitive substring search through the text files under one folder.

The walk goes from descriptor to descriptor (`scandir` on a folder's fd, `O_NOFOLLOW` opens
relative to it) and never follows a symlink, to a file or a folder, so it cannot leave the root
and sees each file once. It skips what is never the project's own text: VCS metadata,
`node_modules`, virtual environments (by name, or any folder holding `pyvenv.cfg`), bytecode
caches, binary files and files too large to be source. Every entry's type is checked with an
`lstat` before it is opened, so FIFOs, sockets and devices are skipped without ever being opened.

Results are `path:line: text` with paths relative to the root, so the model can pass them straight
to read_file. The walk is blocking and can be long; it runs in a worker thread and checks a stop
flag between files, so a cancelled chat does not leave it grinding.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

from . import paths
from .files import decode_text, is_binary, open_target, printable_name
from .paths import Target
from .result import ToolError

MAX_MATCHES: Final = 200
MAX_LINE_CHARS: Final = 200
# Bigger files are generated data or bundles, not source worth searching line by line.
MAX_FILE_BYTES: Final = 4 * 1024 * 1024
SKIP_DIRS: Final = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__"}
)
VENV_MARKER: Final = "pyvenv.cfg"


class _Search:
    def __init__(self, query: str, glob: str | None, base: tuple[str, ...], stop: threading.Event):
        self.needle = query.casefold()
        self.glob = glob
        self.base = base
        self.stop = stop
        self.matches: list[str] = []
        self.more = False

    @property
    def done(self) -> bool:
        return self.more or self.stop.is_set()

    def folder(self, fd: int, parts: tuple[str, ...]) -> None:
        with os.scandir(fd) as it:
            entries = sorted(
                (entry.name, entry.is_dir(follow_symlinks=False))
                for entry in it
                if not entry.is_symlink()
            )
        for name, is_dir in entries:
            if self.done:
                return
            if is_dir:
                if name not in SKIP_DIRS:
                    self._descend(fd, name, (*parts, name))
            elif self._selected(name, (*parts, name)):
                self.file(fd, name, (*parts, name))

    def _descend(self, fd: int, name: str, parts: tuple[str, ...]) -> None:
        try:
            child = os.open(name, paths.DIR_FLAGS, dir_fd=fd)
        except OSError:
            return  # vanished, unreadable, or swapped for a symlink: not followed
        try:
            if not _exists(VENV_MARKER, child):
                self.folder(child, parts)
        finally:
            os.close(child)

    def _selected(self, name: str, parts: tuple[str, ...]) -> bool:
        if self.glob is None:
            return True
        candidates = (name, "/".join(parts), "/".join(parts[len(self.base) :]))
        return any(fnmatchcase(candidate, self.glob) for candidate in candidates)

    def file(self, dir_fd: int, name: str, parts: tuple[str, ...]) -> None:
        # The type is checked without opening (an lstat relative to the folder): opening a FIFO
        # would release a writer blocked on it, and opening a device can have effects of its own.
        try:
            checked = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return
        if not stat.S_ISREG(checked.st_mode) or checked.st_size > MAX_FILE_BYTES:
            return  # FIFOs, sockets, devices (and symlinks) are skipped unopened
        try:
            fd = os.open(name, paths.FILE_FLAGS, dir_fd=dir_fd)
        except OSError:
            return
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(file.fileno())
            if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino):
                return  # swapped between the check and the open
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return
            data = file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES or is_binary(data):
            return
        self.scan(decode_text(data, complete=True), "/".join(parts))

    def scan(self, text: str, rel: str) -> None:
        if self.needle not in text.casefold():
            return
        shown_rel = printable_name(rel)
        for number, line in enumerate(text.split("\n"), 1):
            if self.needle not in line.casefold():
                continue
            if len(self.matches) == MAX_MATCHES:
                self.more = True
                return
            shown = line.strip()
            if len(shown) > MAX_LINE_CHARS:
                shown = shown[:MAX_LINE_CHARS] + " [...]"
            self.matches.append(f"{shown_rel}:{number}: {shown}")


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def search_files(
    root: Path, target: Target, query: str, glob: str | None, stop: threading.Event
) -> str:
    if not query:
        raise ToolError("search_files: the query is empty; give some text to look for")
    fd, st = open_target(root, target, "search", "file or folder")
    search = _Search(query, glob, target.parts, stop)
    try:
        if stat.S_ISDIR(st.st_mode):
            search.folder(fd, target.parts)
        else:
            _search_one(search, fd, target)
    finally:
        os.close(fd)
    return _report(search, query, glob, target)


def _search_one(search: _Search, fd: int, target: Target) -> None:
    # The target is a regular file (open_node checked it): searched even where a walk would skip.
    data = os.pread(fd, MAX_FILE_BYTES + 1, 0)
    if len(data) <= MAX_FILE_BYTES and not is_binary(data):
        search.scan(decode_text(data, complete=True), target.rel)


def _report(search: _Search, query: str, glob: str | None, target: Target) -> str:
    if not search.matches:
        where = f"under {target.rel}" + (f" in files matching {glob!r}" if glob else "")
        return f"no matches for {query!r} {where}"
    lines: Sequence[str] = search.matches
    if search.more:
        lines = [*lines, f"[... more than {MAX_MATCHES} matches; narrow the query, path or glob]"]
    return "\n".join(lines)
