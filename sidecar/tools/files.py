"""read_file, list_directory and write_file: blocking, confined to the root, run in a worker thread.

Each takes a `Target` that `paths.resolve` already checked and opens it only through
`paths.open_node` / `paths.open_parent`, so nothing here follows a name out of the root. Output is
capped so one call cannot flood the model's context: a long file or folder ends with a marker
line saying how much was left out, which the model can act on (read less, list deeper).

write_file is atomic: the content goes to a temporary file in the target's own folder, is
flushed to disk, then `os.replace`d over the target, so a reader sees the old file or the new
one, never half of it, and a failure leaves no temporary file behind.
"""

from __future__ import annotations

import codecs
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from . import paths
from .paths import Target
from .result import PathRefused, ToolError

READ_CAP_BYTES: Final = 256 * 1024
# A NUL byte in this many leading bytes marks a file as binary (git and grep use the same test).
BINARY_SNIFF_BYTES: Final = 8 * 1024
LIST_CAP_ENTRIES: Final = 1000
WRITE_FILE_MODE: Final = 0o666  # before the umask, like open(..., "w")


def is_binary(head: bytes) -> bool:
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def decode_text(data: bytes, *, complete: bool) -> str:
    """UTF-8 with replacement; a cut-off last character (`complete=False`) is dropped."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=complete)


def printable_name(name: str) -> str:
    """A file name on one line: names holding control characters are shown as Python literals."""
    return repr(name) if any(ch < " " or ch == "\x7f" for ch in name) else name


def open_target(
    root: Path, target: Target, verb: str, missing: str
) -> tuple[int, os.stat_result]:
    """Opens `target` from a fresh fd of the root; a missing one is a ToolError naming it."""
    root_fd = paths.open_root(root)
    try:
        return paths.open_node(root_fd, target)
    except FileNotFoundError:
        raise ToolError(f"cannot {verb} {target.raw!r}: no such {missing}") from None
    finally:
        os.close(root_fd)


def read_file(root: Path, target: Target) -> str:
    fd, st = open_target(root, target, "read", "file")
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise ToolError(f"cannot read {target.raw!r}: it is a folder; use list_directory")
    with os.fdopen(fd, "rb") as file:
        data = file.read(READ_CAP_BYTES + 1)
        total = max(os.fstat(file.fileno()).st_size, len(data))
    if is_binary(data):
        raise ToolError(
            f"cannot read {target.raw!r}: binary file ({total} bytes, NUL byte in the first "
            f"{BINARY_SNIFF_BYTES // 1024} KiB); only text files are shown"
        )
    if not data:
        return "(empty file)"
    if len(data) <= READ_CAP_BYTES:
        return decode_text(data, complete=True)
    text = decode_text(data[:READ_CAP_BYTES], complete=False)
    return f"{text}\n[truncated: showing {READ_CAP_BYTES} of {total} bytes]"


def list_directory(root: Path, target: Target) -> str:
    fd, st = open_target(root, target, "list", "folder")
    try:
        if not stat.S_ISDIR(st.st_mode):
            raise ToolError(f"cannot list {target.raw!r}: it is a file; use read_file")
        with os.scandir(fd) as entries:
            lines = sorted(_entry_line(fd, entry) for entry in entries)
    finally:
        os.close(fd)
    if not lines:
        return f"(empty directory: {target.rel})"
    shown = lines[:LIST_CAP_ENTRIES]
    if len(lines) > LIST_CAP_ENTRIES:
        shown.append(f"[... {len(lines) - LIST_CAP_ENTRIES} more entries]")
    return "\n".join(shown)


def _entry_line(dir_fd: int, entry: os.DirEntry[str]) -> str:
    name = printable_name(entry.name)
    try:
        if entry.is_symlink():
            return f"{name} -> {printable_name(os.readlink(entry.name, dir_fd=dir_fd))}"
        if entry.is_dir(follow_symlinks=False):
            return f"{name}/"
    except OSError:
        pass  # vanished while listing; show the bare name
    return name


def write_file(root: Path, target: Target, content: str) -> str:
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError as exc:
        reason = f"content is not valid Unicode ({exc.reason})"
        raise ToolError(f"cannot write {target.raw!r}: {reason}") from None
    if not target.parts:
        raise PathRefused(target.raw, "is the project root folder; name a file")
    root_fd = paths.open_root(root)
    try:
        parent = paths.open_parent(root_fd, target, create=True)
    finally:
        os.close(root_fd)
    try:
        _replace_atomically(parent, target, data)
    finally:
        os.close(parent)
    return f"wrote {len(data)} byte{'' if len(data) == 1 else 's'} to {target.rel}"


def _replace_atomically(parent: int, target: Target, data: bytes) -> None:
    name = target.parts[-1]
    try:
        existing = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise ToolError(f"cannot write {target.raw!r}: it is a folder; not replaced")
        paths.check_kind(target, existing.st_mode)
    # A fixed-length name: `.{name}...` could exceed NAME_MAX for a long target name.
    temp = f".sidecar-write-{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, WRITE_FILE_MODE, dir_fd=parent)
    try:
        with os.fdopen(fd, "wb") as file:
            if existing is not None:
                os.fchmod(file.fileno(), stat.S_IMODE(existing.st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # Replaces a symlink swapped in since the check rather than writing through it.
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=parent)
        except OSError:
            pass
        raise
