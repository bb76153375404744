"""The built-in tools: each tool's normal path and caps, the root as a wall, and exec_shell's
process-group handling. Every test uses a fresh `project/` folder under tmp_path as the root and
an `outside/` folder next to it as the place nothing may reach."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading

from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar.tools import BUILTIN_NAMES, NEEDS_APPROVAL, ToolResult, Workspace
from sidecar.tools import files, paths, search
from sidecar.tools.result import PathRefused

SECRET = "outside secret\n"
SHELL_DISABLED = ToolResult("exec_shell is disabled; start the sidecar with --allow-shell", True)


@pytest.fixture
def root(root: Path) -> Path:
    """The shared empty project (../conftest.py), with a secret beside it."""
    (root.parent / "outside").mkdir()
    (root.parent / "outside" / "secret.txt").write_text(SECRET)
    return root


@pytest.fixture
def outside(root: Path) -> Path:
    return root.parent / "outside"


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)


@pytest.fixture
def shell_ws(root: Path) -> Workspace:
    return Workspace(root, allow_shell=True, shell_timeout_s=0.5)


def refused(raw: str, rule: str) -> ToolResult:
    return ToolResult(f"refused path {raw!r}: {rule}", True)


async def call(ws: Workspace, name: str, **arguments: Any) -> ToolResult:
    with trio.fail_after(10):
        return await ws.run(name, arguments)


def tree(root: Path, entries: dict[str, str | bytes]) -> None:
    for rel, content in entries.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the API the chat loop uses ------------------------------------------------------------------


def test_exec_shell_is_offered_only_when_allowed(root: Path) -> None:
    assert Workspace(root).available() == (
        "read_file", "list_directory", "search_files", "write_file",
    )
    assert Workspace(root, allow_shell=True).available() == BUILTIN_NAMES
    assert NEEDS_APPROVAL == frozenset({"write_file", "exec_shell"})


def test_specs_are_ollama_function_definitions_in_the_order_asked(ws: Workspace) -> None:
    specs = ws.specs(["write_file", "read_file"])
    assert [s["function"]["name"] for s in specs] == ["write_file", "read_file"]
    assert specs[1]["type"] == "function"
    parameters = specs[1]["function"]["parameters"]
    description = parameters["properties"]["path"]["description"]
    assert parameters == {
        "type": "object",
        "properties": {"path": {"type": "string", "description": description}},
        "required": ["path"],
    }
    assert all(s["function"]["description"] for s in ws.specs(BUILTIN_NAMES))
    with pytest.raises(ValueError, match="'nope'"):
        ws.specs(["nope"])


def test_workspace_root_is_resolved_and_absolute(root: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(root)
    assert Workspace(tmp_path / "alias").root == root
    assert Workspace(root / "..").root == root.parent


@pytest.mark.parametrize(
    ("name", "arguments", "content"),
    [
        ("read_file", {}, "read_file: invalid arguments: Object missing required field `path`"),
        ("read_file", None, "read_file: invalid arguments: Object missing required field `path`"),
        ("read_file", {"path": 3}, "read_file: invalid arguments: "
         "Expected `str`, got `int` - at `$.path`"),
        ("read_file", ["a"], "read_file: invalid arguments: Expected `object`, got `array`"),
        ("read_file", "{oops", "read_file: arguments are not valid JSON: JSON is malformed: "
         "object keys must be strings (byte 1)"),
        ("write_file", {"path": "a.txt"}, "write_file: invalid arguments: "
         "Object missing required field `content`"),
        ("write_file", {"path": "a.txt", "content": None}, "write_file: invalid arguments: "
         "Expected `str`, got `null` - at `$.content`"),
        ("search_files", {"query": 1}, "search_files: invalid arguments: "
         "Expected `str`, got `int` - at `$.query`"),
        ("search_files", {"query": ""}, "search_files: the query is empty; "
         "give some text to look for"),
        ("list_directory", {"path": False}, "list_directory: invalid arguments: "
         "Expected `str | null`, got `bool` - at `$.path`"),
        ("nope", {}, "unknown tool 'nope'; built-in tools: "
         "read_file, list_directory, search_files, write_file"),
        ("exec_shell", {"command": "true"}, SHELL_DISABLED.content),
    ],
)
async def test_bad_calls_are_error_results_not_exceptions(
    ws: Workspace, name: str, arguments: Any, content: str
) -> None:
    with trio.fail_after(10):
        assert await ws.run(name, arguments) == ToolResult(content, True)


async def test_arguments_may_arrive_as_a_json_string(ws: Workspace, root: Path) -> None:
    (root / "a.txt").write_text("hi\n")
    assert await ws.run("read_file", '{"path": "a.txt"}') == ToolResult("hi\n")


# -- read_file -----------------------------------------------------------------------------------


async def test_read_file_returns_the_text(ws: Workspace, root: Path) -> None:
    tree(root, {"src/a.py": "greeting = 'héllo'\n"})
    expected = ToolResult("greeting = 'héllo'\n")
    assert await call(ws, "read_file", path="src/a.py") == expected
    assert await call(ws, "read_file", path="./src/../src/a.py") == expected


async def test_read_file_caps_at_256_kib_with_a_marker(ws: Workspace, root: Path) -> None:
    (root / "big.txt").write_text("a" * 300_000)
    expected = "a" * 262_144 + "\n[truncated: showing 262144 of 300000 bytes]"
    assert await call(ws, "read_file", path="big.txt") == ToolResult(expected)


async def test_read_file_cut_inside_a_character_drops_it(ws: Workspace, root: Path) -> None:
    (root / "big.txt").write_text("a" + "é" * 200_000)  # the cap falls inside an "é"
    result = await call(ws, "read_file", path="big.txt")
    marker = "\n[truncated: showing 262144 of 400001 bytes]"
    assert result == ToolResult("a" + "é" * 131_071 + marker)


async def test_read_file_refuses_binary_files(ws: Workspace, root: Path) -> None:
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"x" * 100)
    assert await call(ws, "read_file", path="img.png") == ToolResult(
        "cannot read 'img.png': binary file (116 bytes, NUL byte in the first 8 KiB); "
        "only text files are shown",
        True,
    )


async def test_read_file_on_a_folder_missing_file_or_empty_file(ws: Workspace, root: Path) -> None:
    tree(root, {"docs/x.md": "", "empty.txt": ""})
    assert await call(ws, "read_file", path="docs") == ToolResult(
        "cannot read 'docs': it is a folder; use list_directory", True
    )
    assert await call(ws, "read_file", path="nope.txt") == ToolResult(
        "cannot read 'nope.txt': no such file", True
    )
    assert await call(ws, "read_file", path="nope/x.txt") == ToolResult(
        "'nope/x.txt': folder 'nope' does not exist", True
    )
    assert await call(ws, "read_file", path="empty.txt/x") == ToolResult(
        "'empty.txt/x': 'empty.txt' is not a folder", True
    )
    assert await call(ws, "read_file", path="empty.txt") == ToolResult("(empty file)")


# -- list_directory ------------------------------------------------------------------------------


async def test_list_directory_sorts_and_marks_folders(ws: Workspace, root: Path) -> None:
    tree(root, {"b.txt": "", "a/x": "", "C.md": "", ".hidden": ""})
    (root / "link").symlink_to("b.txt")
    expected = ".hidden\nC.md\na/\nb.txt\nlink -> b.txt"
    assert await call(ws, "list_directory", path=".") == ToolResult(expected)
    assert await call(ws, "list_directory") == ToolResult(expected)
    assert await call(ws, "list_directory", path="a") == ToolResult("x")


async def test_list_directory_says_when_empty(ws: Workspace, root: Path) -> None:
    (root / "void").mkdir()
    assert await call(ws, "list_directory", path="void") == ToolResult("(empty directory: void)")


async def test_list_directory_caps_entries(ws: Workspace, root: Path) -> None:
    for i in range(1005):
        (root / f"f{i:04}").touch()
    lines = (await call(ws, "list_directory")).content.split("\n")
    assert lines == [f"f{i:04}" for i in range(1000)] + ["[... 5 more entries]"]


async def test_list_directory_of_a_file_or_missing_folder(ws: Workspace, root: Path) -> None:
    (root / "a.txt").touch()
    assert await call(ws, "list_directory", path="a.txt") == ToolResult(
        "cannot list 'a.txt': it is a file; use read_file", True
    )
    assert await call(ws, "list_directory", path="gone") == ToolResult(
        "cannot list 'gone': no such folder", True
    )


# -- search_files --------------------------------------------------------------------------------


@pytest.fixture
def project(root: Path, outside: Path) -> Path:
    tree(
        root,
        {
            "README.md": "Say HELLO\nbye\n",
            "src/app.py": "def Hello():\n    return 'hello world'\n",
            "src/util.js": "// hello from js\n",
            "bin.dat": b"hello\0\x01\x02",
            ".git/config": "hello",
            "node_modules/pkg/index.js": "hello",
            ".venv/lib/site.py": "hello",
            "venv/lib/site.py": "hello",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/site.py": "hello",
            "src/__pycache__/app.txt": "hello",
        },
    )
    (outside / "more.txt").write_text("hello outside\n")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "secret-link.txt").symlink_to(outside / "more.txt")
    os.mkfifo(root / "pipe")
    return root


async def test_search_finds_case_insensitive_matches_and_skips_noise(
    ws: Workspace, project: Path
) -> None:
    assert await call(ws, "search_files", query="hello") == ToolResult(
        "README.md:1: Say HELLO\n"
        "src/app.py:1: def Hello():\n"
        "src/app.py:2: return 'hello world'\n"
        "src/util.js:1: // hello from js"
    )


async def test_search_filters_by_path_and_glob(ws: Workspace, project: Path) -> None:
    only_src = (
        "src/app.py:1: def Hello():\n"
        "src/app.py:2: return 'hello world'\n"
        "src/util.js:1: // hello from js"
    )
    assert await call(ws, "search_files", query="HELLO", path="src") == ToolResult(only_src)
    assert await call(ws, "search_files", query="hello", glob="*.js") == ToolResult(
        "src/util.js:1: // hello from js"
    )
    assert await call(ws, "search_files", query="hello", glob="src/*.py") == ToolResult(
        "src/app.py:1: def Hello():\nsrc/app.py:2: return 'hello world'"
    )
    assert await call(ws, "search_files", query="bye", path="README.md") == ToolResult(
        "README.md:2: bye"
    )


async def test_search_reports_no_matches(ws: Workspace, project: Path) -> None:
    assert await call(ws, "search_files", query="zebra", glob="*.py") == ToolResult(
        "no matches for 'zebra' under . in files matching '*.py'"
    )


async def test_search_caps_matches_and_trims_lines(ws: Workspace, root: Path) -> None:
    (root / "many.txt").write_text("match\n" * 250)
    (root / "wide.txt").write_text("   match" + "x" * 500 + "\n")
    lines = (await call(ws, "search_files", query="match", glob="many.txt")).content.split("\n")
    assert lines == [f"many.txt:{i}: match" for i in range(1, 201)] + [
        "[... more than 200 matches; narrow the query, path or glob]"
    ]
    wide = await call(ws, "search_files", query="MATCH", path="wide.txt")
    assert wide == ToolResult("wide.txt:1: match" + "x" * 195 + " [...]")


def test_a_stopped_search_ends_without_reading_on(root: Path) -> None:
    (root / "a.txt").write_text("match\n")
    stop = threading.Event()
    stop.set()
    target = paths.resolve(root, ".")
    result = search.search_files(root, target, "match", None, stop)
    assert result == "no matches for 'match' under ."


# -- write_file ----------------------------------------------------------------------------------


async def test_write_file_creates_parents_atomically(ws: Workspace, root: Path) -> None:
    result = await call(ws, "write_file", path="notes/deep/a.txt", content="héllo\n")
    assert result == ToolResult("wrote 7 bytes to notes/deep/a.txt")
    assert (root / "notes/deep/a.txt").read_text() == "héllo\n"
    assert listing(root / "notes/deep") == ["a.txt"]  # no temporary file left behind


async def test_write_file_replaces_content_and_keeps_the_mode(ws: Workspace, root: Path) -> None:
    (root / "run.sh").write_text("old, and longer than the new content\n")
    (root / "run.sh").chmod(0o751)
    assert await call(ws, "write_file", path="run.sh", content="new") == ToolResult(
        "wrote 3 bytes to run.sh"
    )
    assert (root / "run.sh").read_text() == "new"
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o751
    assert listing(root) == ["run.sh"]


async def test_write_file_failure_leaves_the_old_file_and_no_temp(
    ws: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "a.txt").write_text("old")

    def failing_replace(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    assert await call(ws, "write_file", path="a.txt", content="new") == ToolResult(
        "cannot write 'a.txt': No space left on device", True
    )
    assert (root / "a.txt").read_text() == "old"
    assert listing(root) == ["a.txt"]


async def test_write_file_refuses_to_replace_a_folder(ws: Workspace, root: Path) -> None:
    (root / "sub").mkdir()
    assert await call(ws, "write_file", path="sub", content="x") == ToolResult(
        "cannot write 'sub': it is a folder; not replaced", True
    )
    assert await call(ws, "write_file", path="sub/", content="x") == ToolResult(
        "cannot write 'sub/': the path ends with '/'; name a file", True
    )
    assert await call(ws, "write_file", path=".", content="x") == refused(
        ".", "is the project root folder; name a file"
    )


async def test_write_file_follows_a_symlink_that_stays_inside(ws: Workspace, root: Path) -> None:
    (root / "real.txt").write_text("old")
    (root / "alias.txt").symlink_to("real.txt")
    assert await call(ws, "write_file", path="alias.txt", content="new") == ToolResult(
        "wrote 3 bytes to real.txt"
    )
    assert (root / "real.txt").read_text() == "new"
    assert (root / "alias.txt").is_symlink()


# -- the root is a wall --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("..", paths.RULE_DOTDOT),
        ("../x", paths.RULE_DOTDOT),
        ("../outside/secret.txt", paths.RULE_DOTDOT),
        ("a/../../x", paths.RULE_DOTDOT),
        ("~", paths.RULE_HOME),
        ("~/x", paths.RULE_HOME),
        ("~root/x", paths.RULE_HOME),
        ("a\0b", paths.RULE_NUL),
        ("", paths.RULE_EMPTY),
        ("\udcff\ud800", paths.RULE_ENCODING),
    ],
)
@pytest.mark.parametrize("tool", ["read_file", "write_file"])
async def test_lexical_escapes_are_refused(
    ws: Workspace, root: Path, outside: Path, tool: str, raw: str, rule: str
) -> None:
    arguments = {"path": raw, "content": "pwned"} if tool == "write_file" else {"path": raw}
    assert await call(ws, tool, **arguments) == refused(raw, rule)
    assert listing(outside) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET


async def test_absolute_paths_are_refused_outside_and_accepted_inside(
    ws: Workspace, root: Path, outside: Path
) -> None:
    (root / "in.txt").write_text("inside\n")
    secret = str(outside / "secret.txt")
    not_root = f"absolute path outside the project root {root}"
    assert await call(ws, "read_file", path=secret) == refused(secret, not_root)
    assert await call(ws, "write_file", path=secret, content="x") == refused(secret, not_root)
    assert await call(ws, "read_file", path="/dev/null") == refused("/dev/null", not_root)
    escape = f"{root}/../outside/secret.txt"
    assert await call(ws, "read_file", path=escape) == refused(escape, paths.RULE_DOTDOT)
    assert await call(ws, "read_file", path=str(root / "in.txt")) == ToolResult("inside\n")
    assert (outside / "secret.txt").read_text() == SECRET


async def test_absolute_path_through_the_root_as_typed_is_inside(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "alias").symlink_to(root)
    (root / "in.txt").write_text("inside\n")
    ws = Workspace(tmp_path / "alias")
    assert await call(ws, "read_file", path=str(tmp_path / "alias" / "in.txt")) == ToolResult(
        "inside\n"
    )


async def test_symlinks_out_of_the_root_are_refused(
    ws: Workspace, root: Path, outside: Path
) -> None:
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "dangling.txt").symlink_to(outside / "new.txt")
    (root / "null").symlink_to("/dev/null")
    via = f"resolves through a symlink to {outside}/secret.txt, outside the project root"
    assert await call(ws, "read_file", path="leak.txt") == refused("leak.txt", via)
    assert await call(ws, "read_file", path="out/secret.txt") == refused("out/secret.txt", via)
    assert await call(ws, "write_file", path="leak.txt", content="x") == refused("leak.txt", via)
    assert await call(ws, "write_file", path="out/secret.txt", content="x") == refused(
        "out/secret.txt", via
    )
    assert await call(ws, "write_file", path="out/sub/new.txt", content="x") == refused(
        "out/sub/new.txt",
        f"resolves through a symlink to {outside}/sub/new.txt, outside the project root",
    )
    assert await call(ws, "write_file", path="dangling.txt", content="x") == refused(
        "dangling.txt",
        f"resolves through a symlink to {outside}/new.txt, outside the project root",
    )
    assert await call(ws, "list_directory", path="out") == refused(
        "out", f"resolves through a symlink to {outside}, outside the project root"
    )
    assert await call(ws, "search_files", query="secret", path="out") == refused(
        "out", f"resolves through a symlink to {outside}, outside the project root"
    )
    assert await call(ws, "read_file", path="null") == refused(
        "null", "resolves through a symlink to /dev/null, outside the project root"
    )
    assert listing(outside) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET


async def test_symlinks_that_stay_inside_are_followed(ws: Workspace, root: Path) -> None:
    tree(root, {"real/a.txt": "inside\n"})
    (root / "alias").symlink_to("real", target_is_directory=True)
    (root / "a-link.txt").symlink_to(root / "real" / "a.txt")
    assert await call(ws, "read_file", path="alias/a.txt") == ToolResult("inside\n")
    assert await call(ws, "read_file", path="a-link.txt") == ToolResult("inside\n")
    assert await call(ws, "list_directory", path="alias") == ToolResult("a.txt")


async def test_fifos_and_sockets_are_refused_without_blocking(ws: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    rule = "a FIFO; only regular files and folders are allowed"
    assert await call(ws, "read_file", path="pipe") == refused("pipe", rule)
    assert await call(ws, "write_file", path="pipe", content="x") == refused("pipe", rule)
    assert await call(ws, "list_directory", path="pipe") == refused("pipe", rule)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        assert await call(ws, "read_file", path="sock") == refused(
            "sock", "a socket; only regular files and folders are allowed"
        )


def swap_for_symlink(folder: Path, target: Path) -> None:
    os.rename(folder, folder.with_name(folder.name + ".moved"))
    folder.symlink_to(target, target_is_directory=True)


def test_open_node_does_not_follow_a_folder_swapped_after_the_check(
    root: Path, outside: Path
) -> None:
    tree(root, {"sub/secret.txt": "inside\n"})
    target = paths.resolve(root, "sub/secret.txt")
    swap_for_symlink(root / "sub", outside)
    root_fd = paths.open_root(root)
    try:
        with pytest.raises(PathRefused) as refusal:
            paths.open_node(root_fd, target)
    finally:
        os.close(root_fd)
    assert refusal.value.rule == paths.RULE_SWAPPED
    with pytest.raises(PathRefused, match="replaced by a symlink"):
        files.write_file(root, target, "pwned")
    assert (outside / "secret.txt").read_text() == SECRET


@pytest.mark.parametrize("tool", ["read_file", "write_file"])
async def test_run_does_not_follow_a_folder_swapped_after_the_check(
    ws: Workspace, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    tree(root, {"sub/secret.txt": "inside\n"})
    checked = paths.resolve

    def resolve_then_swap(*args: Any) -> paths.Target:
        target = checked(*args)
        swap_for_symlink(root / "sub", outside)
        return target

    monkeypatch.setattr(paths, "resolve", resolve_then_swap)
    arguments: dict[str, Any] = {"path": "sub/secret.txt"}
    if tool == "write_file":
        arguments["content"] = "pwned"
    assert await call(ws, tool, **arguments) == refused("sub/secret.txt", paths.RULE_SWAPPED)
    assert listing(outside) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET


@pytest.mark.parametrize("tool", ["read_file", "write_file"])
async def test_run_does_not_follow_a_file_swapped_after_the_check(
    ws: Workspace, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    (root / "a.txt").write_text("inside\n")
    checked = paths.resolve

    def resolve_then_swap(*args: Any) -> paths.Target:
        target = checked(*args)
        (root / "a.txt").unlink()
        (root / "a.txt").symlink_to(outside / "secret.txt")
        return target

    monkeypatch.setattr(paths, "resolve", resolve_then_swap)
    arguments: dict[str, Any] = {"path": "a.txt"}
    if tool == "write_file":
        arguments["content"] = "pwned"
    assert await call(ws, tool, **arguments) == refused("a.txt", paths.RULE_SWAPPED)
    assert (outside / "secret.txt").read_text() == SECRET


# -- exec_shell ----------------------------------------------------------------------------------


async def wait_gone(pid: int) -> None:
    """Reaps `pid` if it became our child, then waits until no such process exists."""
    with trio.fail_after(5):
        while True:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass  # not our child: the shell's own pid, already reaped by trio
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await trio.sleep(0.01)


async def read_pids(path: Path, count: int) -> list[int]:
    with trio.fail_after(5):
        while True:
            lines = path.read_text().split("\n") if path.exists() else []
            if len(lines) > count:  # `count` complete lines and the empty tail
                return [int(line) for line in lines[:count]]
            await trio.sleep(0.01)


# $$ is the shell, $! the background child; both write to the pid file before waiting.
SPAWN_TWO = "echo $$ > pids; sleep 30 & echo $! >> pids; wait"


async def test_exec_shell_is_disabled_by_default(ws: Workspace) -> None:
    assert await call(ws, "exec_shell", command="touch x") == SHELL_DISABLED
    assert listing(ws.root) == []


async def test_exec_shell_returns_output_and_exit_code(shell_ws: Workspace, root: Path) -> None:
    assert await call(shell_ws, "exec_shell", command="echo out; echo err >&2; pwd") == ToolResult(
        f"out\nerr\n{root}\n[exit code 0]"
    )
    assert await call(shell_ws, "exec_shell", command="printf no-newline; exit 3") == ToolResult(
        "no-newline\n[exit code 3]", True
    )
    assert await call(shell_ws, "exec_shell", command="cat") == ToolResult("[exit code 0]")
    assert await call(shell_ws, "exec_shell", command="kill -9 $$") == ToolResult(
        "[killed by signal SIGKILL]", True
    )
    assert await call(shell_ws, "exec_shell", command="  ") == ToolResult(
        "exec_shell: the command is empty", True
    )


async def test_exec_shell_caps_output_without_deadlock(shell_ws: Workspace) -> None:
    result = await call(shell_ws, "exec_shell", command="head -c 1000000 /dev/zero | tr '\\0' a")
    assert result == ToolResult(
        "a" * 65536 + "\n[output truncated: showing 65536 of 1000000 bytes]\n[exit code 0]"
    )


async def test_exec_shell_timeout_kills_the_whole_group(
    shell_ws: Workspace, root: Path, subreaper: None
) -> None:
    result = await call(shell_ws, "exec_shell", command=f"echo started; {SPAWN_TWO}")
    assert result == ToolResult("started\n[timed out after 0.5 s; process group killed]", True)
    for pid in await read_pids(root / "pids", 2):
        await wait_gone(pid)


async def test_exec_shell_background_children_do_not_outlive_the_call(
    shell_ws: Workspace, root: Path, subreaper: None
) -> None:
    result = await call(shell_ws, "exec_shell", command="sleep 30 & echo $! > pids")
    assert result == ToolResult("[exit code 0]")
    for pid in await read_pids(root / "pids", 1):
        await wait_gone(pid)


async def test_cancelling_exec_shell_kills_the_whole_group(root: Path, subreaper: None) -> None:
    ws = Workspace(root, allow_shell=True, shell_timeout_s=60.0)
    results: list[ToolResult] = []

    async def run_it() -> None:
        results.append(await ws.run("exec_shell", {"command": SPAWN_TWO}))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_it)
            pids = await read_pids(root / "pids", 2)
            nursery.cancel_scope.cancel()
    assert results == []
    for pid in pids:
        await wait_gone(pid)
