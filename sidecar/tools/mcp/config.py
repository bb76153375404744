"""`--mcp-config FILE`: the `mcpServers` JSON of Claude Desktop, Cursor and Cline, checked whole.

    {"mcpServers": {"NAME": {"command", "args"?, "env"?, "cwd"?} | {"url", "headers"?}}}

plus, per server, `disabled` (bool), `autoApprove` (the server's own tool names, as Cline writes
them) and `timeout` (seconds for one tool call, default 60; a server's start may take as long,
and at least 10 s). Anything
wrong is a `McpConfigError` whose message names the file, the server and the field, so the
sidecar refuses to start half-configured (exit status 2). Pure: no I/O but reading the file.

`exposed_name` makes the name a model sees for a server's tool: `SERVER__TOOL`, characters outside
`[A-Za-z0-9_-]` replaced by `_`, at most 64 characters, unique among the names already taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

DEFAULT_TIMEOUT_S: Final = 60.0
# A server's start (spawn, initialize, the first listing) may take `timeout`, but never less than
# this: a short call timeout must not fail a server that is merely slow to start (npx, a busy
# machine).
MIN_START_TIMEOUT_S: Final = 10.0
MAX_NAME: Final = 64
SEPARATOR: Final = "__"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_STDIO_FIELDS: Final = frozenset({"command", "args", "env", "cwd", "type", "transport"})
_HTTP_FIELDS: Final = frozenset({"url", "headers", "type", "transport"})
_COMMON_FIELDS: Final = frozenset({"disabled", "autoApprove", "timeout"})


class McpConfigError(ValueError):
    """A refused `--mcp-config`; `str(exc)` names the file, the server and the field."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    transport: Literal["stdio", "http"]
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    auto_approve: frozenset[str] = frozenset()
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def start_timeout_s(self) -> float:
        return max(self.timeout_s, MIN_START_TIMEOUT_S)

    @property
    def prefix(self) -> str:
        """What every exposed name of this server starts with: `SERVER__`."""
        return sanitize(self.name) + SEPARATOR


def sanitize(text: str) -> str:
    return _UNSAFE.sub("_", text) or "_"


def exposed_name(server: str, tool: str, taken: set[str] | frozenset[str]) -> str:
    """`SERVER__TOOL`, safe for every model API, at most 64 characters, not in `taken`."""
    base = (sanitize(server) + SEPARATOR + sanitize(tool))[:MAX_NAME]
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name = base[: MAX_NAME - len(suffix)] + suffix
        n += 1
    return name


def load_mcp_config(path: str) -> list[ServerConfig]:
    """Reads and checks the file. Raises `McpConfigError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise McpConfigError(f"--mcp-config {path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_mcp_config(data, path)


def parse_mcp_config(data: bytes | str, path: str) -> list[ServerConfig]:
    """The servers of one `mcpServers` document, in file order. Raises `McpConfigError`."""
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise McpConfigError(f"--mcp-config {path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise McpConfigError(f"--mcp-config {path}: the file must hold a JSON object with \"mcpServers\"")
    servers = doc.get("mcpServers")
    if not isinstance(servers, dict):
        raise McpConfigError(
            f"--mcp-config {path}: field 'mcpServers' must be an object of servers by name"
        )
    out: list[ServerConfig] = []
    prefixes: dict[str, str] = {}
    for name, entry in servers.items():
        config = _server(path, name, entry)
        other = prefixes.get(config.prefix)
        if other is not None:
            raise McpConfigError(
                f"--mcp-config {path}: server {name!r}: its tools' names would clash with server "
                f"{other!r}'s (both become {config.prefix}TOOL); rename one"
            )
        prefixes[config.prefix] = name
        out.append(config)
    return out


def _server(path: str, name: str, entry: Any) -> ServerConfig:
    def fail(field_name: str, why: str) -> McpConfigError:
        return McpConfigError(f"--mcp-config {path}: server {name!r}: field {field_name!r} {why}")

    if not name.strip():
        raise McpConfigError(f"--mcp-config {path}: a server's name must not be empty")
    if not isinstance(entry, dict):
        raise McpConfigError(f"--mcp-config {path}: server {name!r} must be an object")
    has_command, has_url = "command" in entry, "url" in entry
    if has_command == has_url:
        raise McpConfigError(
            f"--mcp-config {path}: server {name!r}: field 'command' or 'url' is required (exactly "
            "one: a stdio or an HTTP server)"
        )
    transport: Literal["stdio", "http"] = "stdio" if has_command else "http"
    allowed = (_STDIO_FIELDS if has_command else _HTTP_FIELDS) | _COMMON_FIELDS
    for key in entry:
        if key not in allowed:
            kind = "a stdio server (command)" if has_command else "an HTTP server (url)"
            raise fail(key, f"is not known for {kind}; known: {', '.join(sorted(allowed))}")
    kind = entry.get("type", entry.get("transport"))
    if kind is not None and kind not in (
        ("stdio",) if has_command else ("http", "streamable-http", "streamableHttp")
    ):
        raise fail("type", f"is {kind!r}, which does not match the server's {transport} transport")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise fail("disabled", "must be true or false")
    auto = entry.get("autoApprove", [])
    if not isinstance(auto, list) or not all(isinstance(t, str) for t in auto):
        raise fail("autoApprove", "must be a list of the server's tool names")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise fail("timeout", "must be a number of seconds greater than 0")
    common: dict[str, Any] = {
        "disabled": disabled, "auto_approve": frozenset(auto), "timeout_s": float(timeout)
    }
    if has_command:
        command = entry["command"]
        if not isinstance(command, str) or not command.strip():
            raise fail("command", "must be a non-empty string (the program to run)")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise fail("args", "must be a list of strings")
        env = _strings(entry.get("env", {}), lambda why: fail("env", why))
        cwd = entry.get("cwd")
        if cwd is not None and (not isinstance(cwd, str) or not cwd):
            raise fail("cwd", "must be a folder path (a string)")
        return ServerConfig(
            name, "stdio", command=command, args=tuple(args), env=env, cwd=cwd, **common
        )
    url = entry["url"]
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise fail("url", "must be an http:// or https:// URL")
    headers = _strings(entry.get("headers", {}), lambda why: fail("headers", why))
    return ServerConfig(name, "http", url=url, headers=headers, **common)


def _strings(value: Any, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail("must be an object of string values")
    return dict(value)
