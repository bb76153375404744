"""`reserve_stdin` and `claim_stdout` on this process's own fds 0-2, which each test points at
pipes (or closes) for its duration and restores after, as a host would have left them for a
sidecar. The same start-up through a real process: process/test_process_lifetime.py."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sidecar import stdio
from sidecar.stdio import claim_stdout, reserve_stdin


@contextmanager
def standard_fds(targets: dict[int, int | None]) -> Iterator[None]:
    """Points each of fds 0-2 in `targets` at the given fd (None: closes it), restores it after."""
    saved: dict[int, int | None] = {}
    for fd in targets:
        try:  # far above 0-2, so closing one of those cannot hit a saved copy
            saved[fd] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        except OSError:
            saved[fd] = None  # closed already (a run with no stdin)
    try:
        for fd, target in targets.items():
            if target is None:
                _close_quietly(fd)
            else:
                os.dup2(target, fd)
        yield
    finally:
        for fd, copy in saved.items():
            if copy is None:
                _close_quietly(fd)
            else:
                os.dup2(copy, fd)
                os.close(copy)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass  # not open


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _read_to_eof(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def _is_dev_null(info: os.stat_result) -> bool:
    null = os.stat(os.devnull)
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == null.st_rdev


def test_an_open_stdin_is_left_as_the_host_gave_it() -> None:
    read_end, write_end = os.pipe()
    try:
        with standard_fds({0: read_end}):
            reserve_stdin()
            same = os.path.sameopenfile(0, read_end)
        assert same
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_closed_stdin_gets_dev_null_so_no_later_fd_takes_its_place() -> None:
    with standard_fds({0: None}):
        reserve_stdin()
        stdin = os.fstat(0)
        read = os.read(0, 16)
        later = os.open(os.devnull, os.O_RDONLY)
        os.close(later)
    assert _is_dev_null(stdin)
    assert read == b""  # stdin at EOF, as a host that gives none means
    assert later != 0


def test_a_closed_stdin_gets_dev_null_even_where_the_open_lands_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_open = os.open
    landed: list[int] = []

    def open_elsewhere(path: str, flags: int, *rest: int) -> int:
        # As if another fd had taken 0 first: the /dev/null fd lands high instead.
        fd = real_open(path, flags, *rest)
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 20)
        os.close(fd)
        landed.append(high)
        return high

    with standard_fds({0: None}):
        with monkeypatch.context() as patch:
            patch.setattr(os, "open", open_elsewhere)
            reserve_stdin()
        stdin = os.fstat(0)
        extra_left_open = [fd for fd in landed if _is_open(fd)]
    assert len(landed) == 1
    assert _is_dev_null(stdin)
    assert extra_left_open == []


@pytest.mark.parametrize("windows", [False, True], ids=["posix", "windows-way"])
@pytest.mark.parametrize("stdin_closed", [False, True], ids=["stdin", "no-stdin"])
def test_protocol_lines_get_a_private_fd_and_stray_output_on_fd_1_goes_to_stderr(
    monkeypatch: pytest.MonkeyPatch, windows: bool, stdin_closed: bool
) -> None:
    # The Windows way (dup until the fd is past 2, then close the low ones) uses only calls that
    # POSIX has too, so it runs here as well.
    monkeypatch.setattr(stdio, "WINDOWS", windows)
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        # A host that left stdin closed: a plain dup of fd 1 would land there.
        stdin = None if stdin_closed else in_read
        with standard_fds({0: stdin, 1: out_write, 2: err_write}):
            protocol_fd = claim_stdout()
            try:
                stdin_after = os.fstat(0) if _is_open(0) else None
                inheritable = os.get_inheritable(protocol_fd)
                os.write(protocol_fd, b'{"jsonrpc":"2.0","method":"ready"}\n')
                os.write(1, b"a stray print\n")
            finally:
                os.close(protocol_fd)
        os.close(out_write)
        os.close(err_write)
        out_write = err_write = -1
        assert protocol_fd >= 3  # never where a closed stdin or stderr was
        if stdin_closed:
            assert stdin_after is None  # no copy of stdout left on fd 0
        else:
            assert stdin_after is not None and os.path.samestat(stdin_after, os.fstat(in_read))
        assert not inheritable  # a child process (exec_shell, an MCP server) cannot write lines
        assert _read_to_eof(out_read) == b'{"jsonrpc":"2.0","method":"ready"}\n'
        assert _read_to_eof(err_read) == b"a stray print\n"
    finally:
        for fd in (in_read, in_write, out_read, err_read, out_write, err_write):
            if fd >= 0:  # the write ends are closed already unless an assertion failed first
                os.close(fd)
