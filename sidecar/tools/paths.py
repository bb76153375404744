"""The project root is a wall: every path a model names is checked, then opened beneath the root.

A check alone is a race: a folder can be swapped for a symlink between the check and the open, and
an `open()` of the checked *name* would follow it out of the root. So a path goes through two steps:

1. `resolve` turns the model's string into the components of a real, symlink-free path below the
   root, refusing what breaks a rule: a NUL byte, an empty path, `~`, an absolute path elsewhere,
   `..` that climbs above the root (applied lexically, before symlinks are looked at), and
   symlinks or symlinked parents whose target lies outside. `lexical_parts` is the pure half;
   `resolve` adds `os.path.realpath` for the symlinks.
2. `open_node` / `open_parent` open those components one at a time from a descriptor of the
   root with `O_NOFOLLOW`, never re-resolving the name. Step 1 left no symlink in the path, so a
   component that is a symlink now was swapped after the check: the open fails and the path is
   refused. The final node is `lstat`ed, then opened, then `fstat`ed; the two must be the same
   inode, and only regular files and folders are accepted (FIFOs would block, devices have side
   effects).

POSIX only (`dir_fd`, `O_NOFOLLOW`, `O_DIRECTORY`). Everything here is blocking; callers run it in
a worker thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Final, NamedTuple

from .result import PathRefused, ToolError

# Without these (Windows) the root wall cannot be built: the built-in tools are then not offered
# (Workspace.available), but the module still imports so the sidecar itself runs.
SUPPORTED: Final = all(hasattr(os, flag) for flag in ("O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC"))
_O_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS: Final = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The type checks refuse
# anything but regular files before this flag could matter, but the open must not hang either way.
FILE_FLAGS: Final = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)

RULE_NUL: Final = "contains a NUL byte"
RULE_EMPTY: Final = "empty path; name a file or folder relative to the project root"
RULE_HOME: Final = "'~' is not expanded; use a path relative to the project root"
RULE_DOTDOT: Final = "'..' climbs out of the project root"
RULE_SWAPPED: Final = "a path component was replaced by a symlink after the check; not followed"
RULE_ENCODING: Final = "not a valid file name (unencodable characters)"

_KIND_NAMES: Final = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symlink",
}


class Target(NamedTuple):
    """A checked path: what the model sent, and the real components below the root."""

    raw: str
    parts: tuple[str, ...]

    @property
    def rel(self) -> str:
        return "/".join(self.parts) or "."


def lexical_parts(raw: str, roots: Sequence[PurePosixPath]) -> tuple[str, ...]:
    """The components of `raw` below the root, with `.` and `..` applied; no file system access.

    `roots[0]` is the resolved root; further entries are other spellings of it (the root as the
    user typed it), so an absolute path through either is accepted. Raises `PathRefused`.
    """
    if "\0" in raw:
        raise PathRefused(raw, RULE_NUL)
    if not raw:
        raise PathRefused(raw, RULE_EMPTY)
    if raw.startswith("~"):
        raise PathRefused(raw, RULE_HOME)
    try:
        os.fsencode(raw)
    except UnicodeEncodeError:
        raise PathRefused(raw, RULE_ENCODING) from None
    path = PurePosixPath(raw)
    if path.is_absolute():
        for root in roots:
            if path.is_relative_to(root):
                path = path.relative_to(root)
                break
        else:
            raise PathRefused(raw, f"absolute path outside the project root {roots[0]}")
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                raise PathRefused(raw, RULE_DOTDOT)
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def resolve(root: Path, raw: str, aliases: Sequence[PurePosixPath] = ()) -> Target:
    """Checks `raw` against the root's rules and resolves its symlinks; raises `PathRefused`.

    `root` must be absolute and resolved. The result names no symlink and stays below the root;
    the path need not exist (write_file creates it).
    """
    root_path = PurePosixPath(root)
    parts = lexical_parts(raw, (root_path, *aliases))
    real = PurePosixPath(os.path.realpath(os.path.join(root, *parts)))
    if not real.is_relative_to(root_path):
        raise PathRefused(raw, f"resolves through a symlink to {real}, outside the project root")
    return Target(raw, real.relative_to(root_path).parts)


def open_root(root: Path) -> int:
    """A descriptor of the root folder, for `open_node` and `open_parent`. The caller closes it."""
    try:
        return os.open(root, DIR_FLAGS)
    except OSError as exc:
        raise ToolError(f"the project root {root} cannot be opened: {exc.strerror}") from None


def kind_name(mode: int) -> str:
    return _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file or folder")


def check_kind(target: Target, mode: int) -> None:
    """Only regular files and folders may be opened; a symlink here was swapped in."""
    if stat.S_ISLNK(mode):
        raise PathRefused(target.raw, RULE_SWAPPED)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        rule = f"{kind_name(mode)}; only regular files and folders are allowed"
        raise PathRefused(target.raw, rule)


def open_parent(root_fd: int, target: Target, *, create: bool = False) -> int:
    """A descriptor of the folder holding the target's last component (the root for `.`).

    Walks one component at a time with `O_NOFOLLOW`; with `create`, makes missing folders on the
    way (each inside the folder just opened). The caller closes the descriptor.
    """
    return walk_dirs(root_fd, target, target.parts[:-1], create=create)


def walk_dirs(root_fd: int, target: Target, parts: Sequence[str], *, create: bool = False) -> int:
    fd = os.open(".", DIR_FLAGS, dir_fd=root_fd)
    try:
        for depth, part in enumerate(parts, 1):
            try:
                child = _open_dir_component(fd, part, create)
            except FileNotFoundError:
                where = "/".join(parts[:depth])
                raise ToolError(f"{target.raw!r}: folder {where!r} does not exist") from None
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise _not_a_dir(fd, part, target, "/".join(parts[:depth])) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_dir_component(fd: int, part: str, create: bool) -> int:
    try:
        return os.open(part, DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(part, dir_fd=fd)
    except FileExistsError:
        pass  # made meanwhile; the open below checks what it is
    return os.open(part, DIR_FLAGS, dir_fd=fd)


def _not_a_dir(fd: int, part: str, target: Target, where: str) -> ToolError:
    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        return PathRefused(target.raw, RULE_SWAPPED)
    return ToolError(f"{target.raw!r}: {where!r} is not a folder")


def open_node(root_fd: int, target: Target) -> tuple[int, os.stat_result]:
    """Opens the target read-only, a regular file or a folder, and returns it with its `fstat`.

    Raises `PathRefused` for another kind of file or a swap detected on the way, `ToolError`
    for a missing parent folder, `FileNotFoundError` when the last component is missing. The
    caller closes the descriptor.
    """
    if not target.parts:
        fd = os.open(".", DIR_FLAGS, dir_fd=root_fd)
        return fd, os.fstat(fd)
    parent = open_parent(root_fd, target)
    try:
        name = target.parts[-1]
        checked = os.stat(name, dir_fd=parent, follow_symlinks=False)
        check_kind(target, checked.st_mode)
        flags = DIR_FLAGS if stat.S_ISDIR(checked.st_mode) else FILE_FLAGS
        try:
            fd = os.open(name, flags, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise PathRefused(target.raw, RULE_SWAPPED) from None
            raise
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino, stat.S_IFMT(opened.st_mode)) != (
            checked.st_dev,
            checked.st_ino,
            stat.S_IFMT(checked.st_mode),
        ):
            os.close(fd)
            raise PathRefused(target.raw, "the file was replaced while it was being opened")
        return fd, opened
    finally:
        os.close(parent)
