"""The root wall's answers, exactly (tools/paths.py): what scripts/mutate found no test noticing
(docs/testing.md). Swaps are made between the check and the open, where an attacker would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar.tools import ToolResult, Workspace, paths
from sidecar.tools.result import ToolError

SECRET = "outside secret\n"


@pytest.fixture
def root(root: Path) -> Path:
    (root.parent / "outside").mkdir()
    (root.parent / "outside" / "secret.txt").write_text(SECRET)
    (root / "a").mkdir()
    (root / "a" / "f.txt").write_text("inside\n")
    return root


async def read(root: Path, path: str) -> ToolResult:
    with trio.fail_after(10):
        return await Workspace(root).run("read_file", {"path": path})


async def test_a_missing_folder_is_named_and_reading_creates_nothing(root: Path) -> None:
    assert await read(root, "a/b/c/x.txt") == ToolResult(
        "'a/b/c/x.txt': folder 'a/b' does not exist", True
    )
    assert sorted(p.name for p in (root / "a").iterdir()) == ["f.txt"]


async def test_a_file_used_as_a_folder_is_named(root: Path) -> None:
    assert await read(root, "a/f.txt/x") == ToolResult("'a/f.txt/x': 'a/f.txt' is not a folder", True)


def swap_at_the_check(monkeypatch: pytest.MonkeyPatch, swap: Any) -> None:
    """Runs `swap` right after open_node's type check, before its open."""
    check = paths.check_kind

    def check_then_swap(target: paths.Target, mode: int) -> None:
        check(target, mode)
        swap()

    monkeypatch.setattr(paths, "check_kind", check_then_swap)


async def test_a_file_swapped_for_a_symlink_between_check_and_open_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def swap() -> None:
        (root / "a" / "f.txt").unlink()
        (root / "a" / "f.txt").symlink_to(root.parent / "outside" / "secret.txt")

    swap_at_the_check(monkeypatch, swap)
    assert await read(root, "a/f.txt") == ToolResult(
        f"refused path 'a/f.txt': {paths.RULE_SWAPPED}", True
    )


async def test_a_file_replaced_between_check_and_open_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def swap() -> None:
        os.rename(root / "a" / "f.txt", root / "a" / "old.txt")  # keeps the inode alive
        (root / "a" / "f.txt").write_text("another file\n")

    swap_at_the_check(monkeypatch, swap)
    assert await read(root, "a/f.txt") == ToolResult(
        "refused path 'a/f.txt': the file was replaced while it was being opened", True
    )


def test_a_root_that_cannot_be_opened_says_so(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as exc:
        paths.open_root(tmp_path / "gone")
    assert str(exc.value) == f"the project root {tmp_path / 'gone'} cannot be opened: No such file or directory"
