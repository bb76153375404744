"""What the model is told about each built-in tool, and the arguments each one accepts.

The JSON schemas are written by hand, not generated, because their descriptions are prompts:
they tell the model the limits (caps, what is skipped, that paths are relative to the project
root) so it can plan around them. The msgspec Structs check what actually arrives; unknown keys
are ignored (models add them), optional ones may be absent or `null`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec


class ReadFileArgs(msgspec.Struct):
    path: str


class ListDirectoryArgs(msgspec.Struct):
    path: str | None = None


class SearchFilesArgs(msgspec.Struct):
    query: str
    path: str | None = None
    glob: str | None = None


class WriteFileArgs(msgspec.Struct):
    path: str
    content: str


class ExecShellArgs(msgspec.Struct):
    command: str


ARGS: Final[dict[str, type[msgspec.Struct]]] = {
    "read_file": ReadFileArgs,
    "list_directory": ListDirectoryArgs,
    "search_files": SearchFilesArgs,
    "write_file": WriteFileArgs,
    "exec_shell": ExecShellArgs,
}

_PATH: Final = "Path relative to the project root (absolute paths inside the root also work)"


def _function(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


SPECS: Final[dict[str, dict[str, Any]]] = {
    "read_file": _function(
        "read_file",
        "Read a text file of the project. Shows at most 256 KiB; a longer file ends with a "
        "'[truncated: showing ... of ... bytes]' line. Binary files are refused.",
        {"path": {"type": "string", "description": _PATH}},
        ["path"],
    ),
    "list_directory": _function(
        "list_directory",
        "List a folder of the project: one entry per line, sorted, folders end with '/', "
        "symlinks show their target. At most 1000 entries.",
        {"path": {"type": "string", "description": _PATH + "; default: the project root"}},
        [],
    ),
    "search_files": _function(
        "search_files",
        "Search the project's text files for a case-insensitive substring. Returns "
        "'path:line: text' lines (at most 200). Skips .git, node_modules, virtual environments, "
        "__pycache__ and binary files.",
        {
            "query": {"type": "string", "description": "Text to look for (not a regex)"},
            "path": {
                "type": "string",
                "description": "Folder or file to search in, relative to the project root; "
                "default: the whole project",
            },
            "glob": {
                "type": "string",
                "description": "Only files whose name or relative path matches this pattern, "
                "e.g. '*.py' or 'src/*.ts'",
            },
        },
        ["query"],
    ),
    "write_file": _function(
        "write_file",
        "Create or overwrite a text file of the project with the given content (UTF-8), "
        "creating missing parent folders. The whole file is replaced at once.",
        {
            "path": {"type": "string", "description": _PATH},
            "content": {"type": "string", "description": "The complete new content of the file"},
        },
        ["path", "content"],
    ),
    "exec_shell": _function(
        "exec_shell",
        "Run a command with /bin/sh in the project root and return its combined output "
        "(at most 64 KiB) and exit code. Stdin is empty. Background processes it starts are "
        "killed when it exits; everything it started is killed if it times out.",
        {"command": {"type": "string", "description": "The shell command line to run"}},
        ["command"],
    ),
}
