"""Command-line flags, the upstream's base URL and its API key, resolved once at start-up.

Two providers speak to two dialects: `ollama` (the default) streams Ollama's `/api/chat`;
`openai` streams `POST <base>/chat/completions` of any OpenAI-compatible server (llama.cpp's
llama-server, LM Studio, vLLM, Ollama's own `/v1`). The API key is read from an environment
variable, never from a flag (flags show up in `ps`), and is kept out of `repr(Config)` so that no
log line or error can carry it.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from . import __version__
from .protocol import PROTOCOL_VERSION
from .tools.mcp.config import McpConfigError, ServerConfig, load_mcp_config

DEFAULT_OLLAMA_PORT: Final = 11434
PROVIDERS: Final = ("ollama", "openai")
Provider = Literal["ollama", "openai"]
# The environment variable that holds the bearer token, unless --api-key-env names another.
DEFAULT_API_KEY_ENV: Final[dict[str, str]] = {"ollama": "OLLAMA_API_KEY", "openai": "OPENAI_API_KEY"}
# What --provider openai appends to a base URL without a path (and to Ollama's own address).
OPENAI_DEFAULT_PATH: Final = "/v1"
DEFAULT_MAX_CHATS: Final = 4
# Requests of any kind in flight at once (cancel_chat, cancel_request and shutdown aside); more are `overloaded`.
DEFAULT_MAX_REQUESTS: Final = 256
DEFAULT_MAX_LINE_BYTES: Final = 8 * 1024 * 1024
DEFAULT_DRAIN_TIMEOUT_S: Final = 60.0
DEFAULT_IDLE_TIMEOUT_S: Final = 300.0
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
DEFAULT_MAX_TOOL_ROUNDS: Final = 10
DEFAULT_SHELL_TIMEOUT_S: Final = 60.0
# Replies to stdout may queue up to this many bytes before chats wait for the host to read.
DEFAULT_OUTPUT_BUFFER_BYTES: Final = 1024 * 1024

# Clients must not dial the unspecified address (it fails on Windows): Ollama's own
# envconfig.ConnectableHost() rewrites it the same way.
_CONNECTABLE: Final = {"0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class Config:
    provider: Provider = "ollama"
    # The upstream's base URL: Ollama's address, or for `openai` the base that /chat/completions
    # and /models are appended to (e.g. http://127.0.0.1:8080/v1). The wire calls it ollama_url.
    base_url: str = f"http://127.0.0.1:{DEFAULT_OLLAMA_PORT}"
    model: str | None = None
    max_chats: int = DEFAULT_MAX_CHATS
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    output_buffer_bytes: int = DEFAULT_OUTPUT_BUFFER_BYTES
    parent_pid: int | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_API_KEY_ENV["ollama"]  # named in hints; the key never is
    root: str = "."
    allow_shell: bool = False
    auto_approve: bool = False
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS
    shell_timeout_s: float = DEFAULT_SHELL_TIMEOUT_S
    log_level: str = "WARNING"
    # "auto": non-blocking fds for pipes and sockets, worker threads otherwise; "threads": worker
    # threads always (the path platforms without non-blocking pipes take; selectable to test it).
    stdio: str = "auto"
    # Where conversations are kept (store/); None: --no-store, the sidecar keeps nothing.
    data_dir: str | None = None
    # --mcp-config: the MCP servers (tools/mcp/), checked whole at start-up; disabled ones included.
    mcp_config: str | None = None
    mcp_servers: tuple[ServerConfig, ...] = ()


def parse_ollama_host(value: str | None) -> str:
    """Turns an `OLLAMA_HOST`-style value into a base URL, as Ollama's own clients do.

    `""` -> http://127.0.0.1:11434; `host` or `host:port` -> http; `:port` -> 127.0.0.1;
    `http://host` -> port 80 and `https://host` -> 443 (like ollama-python); bare `ollama.com`
    -> https on 443; a path is kept without its trailing slash; IPv6 is bracketed (bare or not);
    0.0.0.0 and :: are dialled as loopback.
    """
    value = (value or "").strip()
    port = DEFAULT_OLLAMA_PORT
    scheme, sep, hostport = value.partition("://")
    if not sep:
        scheme, hostport = "http", value
        if hostport.count(":") > 1 and not hostport.startswith("["):
            hostport = f"[{hostport}]"  # a bare IPv6 address
        elif hostport == "ollama.com":
            scheme, port = "https", 443  # as Ollama's envconfig.Host() does
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
    try:
        explicit_port = split.port
    except ValueError:
        raise ValueError(f"invalid port in Ollama address {value!r}") from None
    host = split.hostname or "127.0.0.1"
    host = _CONNECTABLE.get(host, host)
    port = explicit_port or port
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    base = f"{scheme}://{host}:{port}"
    return f"{base}/{path}" if path else base


def parse_base_url(value: str) -> str:
    """Turns `--base-url` / `OPENAI_BASE_URL` into the base of an OpenAI-compatible API.

    The scheme (http or https) and a host are required. A URL without a path gets `/v1`
    (`http://127.0.0.1:8080` -> `http://127.0.0.1:8080/v1`); any other path is used as given,
    without its trailing slash. 0.0.0.0 and :: are dialled as loopback; IPv6 stays bracketed.
    Credentials, a query or a fragment are refused: the key belongs in an environment variable.
    """
    text = value.strip()
    split = urllib.parse.urlsplit(text)
    scheme = split.scheme.lower()
    if scheme not in ("http", "https") or not split.hostname:
        raise ValueError(f"base URL {text!r} must be http:// or https:// and name a host")
    if split.username is not None or split.password is not None:
        raise ValueError(
            "a base URL must not carry credentials; put the key in OPENAI_API_KEY "
            "(or the variable named by --api-key-env)"
        )
    if split.query or split.fragment:
        raise ValueError(f"base URL {text!r} must not have a query or a fragment")
    try:
        port = split.port
    except ValueError:
        raise ValueError(f"invalid port in base URL {text!r}") from None
    host = _CONNECTABLE.get(split.hostname, split.hostname)
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = split.path.rstrip("/") or OPENAI_DEFAULT_PATH
    return f"{scheme}://{netloc}{path}"


def read_api_key(env: Mapping[str, str], name: str) -> str | None:
    """The bearer token in the variable `name`, without surrounding whitespace (a `.env` file
    written on Windows leaves a `\r`); None when unset or blank.

    It goes into an HTTP header, so anything but visible ASCII is refused (a line break there
    would smuggle in a header of its own). The message names the variable, never the value.
    """
    key = env.get(name, "").strip()
    if not key:
        return None
    if not all("\x21" <= char <= "\x7e" for char in key):
        raise ValueError(
            f"the API key in {name} holds characters an HTTP header cannot carry (spaces, line "
            "breaks, control or non-ASCII characters); fix the variable (its value is not shown)"
        )
    return key


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


class _PrintSchema(argparse.Action):
    """`--print-schema`: like `--version`, it answers and exits before anything else runs."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from .schema import schema_json

        data = memoryview(schema_json())
        while data:  # a pipe may take less than all of it at once
            data = data[os.write(1, data) :]
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-sidecar",
        description=(
            "Reads JSON-RPC 2.0 requests on stdin, streams chat replies from Ollama and writes "
            "them to stdout, one JSON value per line. See docs/protocol.md."
        ),
    )
    parser.add_argument(
        "--version", action="version",
        version=f"ollama-sidecar {__version__} (protocol {PROTOCOL_VERSION})",
    )
    parser.add_argument(
        "--print-schema", action=_PrintSchema,
        help="write the JSON Schema of every message of the protocol to stdout and exit",
    )
    parser.add_argument(
        "--provider", choices=PROVIDERS, default="ollama",
        help="the upstream's API: ollama (/api/chat, the default) or openai "
        "(/chat/completions of any OpenAI-compatible server)",
    )
    parser.add_argument(
        "--base-url",
        help="the upstream's base URL. openai: default OPENAI_BASE_URL, else Ollama's own "
        "OpenAI endpoint (OLLAMA_HOST + /v1); a URL without a path gets /v1. ollama: the same "
        "as --ollama-url",
    )
    parser.add_argument(
        "--ollama-url",
        help="Ollama's base URL (default: OLLAMA_HOST, else http://127.0.0.1:11434)",
    )
    parser.add_argument(
        "--api-key-env", metavar="NAME",
        help="the environment variable holding a bearer token (default: OLLAMA_API_KEY for "
        "ollama, OPENAI_API_KEY for openai)",
    )
    parser.add_argument("--model", help="model used when a chat request names none")
    parser.add_argument(
        "--max-chats", type=_positive_int, default=DEFAULT_MAX_CHATS,
        help="chats that may run at once; more are refused with -32004 (default 4)",
    )
    parser.add_argument(
        "--max-requests", type=_positive_int, default=DEFAULT_MAX_REQUESTS,
        help="requests of any kind in flight at once (cancel_chat, cancel_request and shutdown "
        "are always served); more are refused with -32005 overloaded (default 256)",
    )
    parser.add_argument(
        "--max-line-bytes", type=_positive_int, default=DEFAULT_MAX_LINE_BYTES,
        help="longest accepted input line in bytes (default 8 MiB)",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=DEFAULT_DRAIN_TIMEOUT_S,
        help="seconds in-flight chats may run after stdin closes (default 60)",
    )
    parser.add_argument(
        "--idle-timeout", type=_positive_float, default=DEFAULT_IDLE_TIMEOUT_S,
        help="seconds without data from Ollama before a chat fails (default 300)",
    )
    parser.add_argument(
        "--connect-timeout", type=_positive_float, default=DEFAULT_CONNECT_TIMEOUT_S,
        help="seconds to open a connection to Ollama (default 5)",
    )
    parser.add_argument(
        "--parent-pid", type=_positive_int,
        help="exit (cancelling chats first) when this process is gone",
    )
    parser.add_argument(
        "--root", default=".",
        help="the project folder built-in tools are confined to (default: the working directory)",
    )
    parser.add_argument(
        "--allow-shell", action="store_true", help="offer the exec_shell tool (off by default)"
    )
    parser.add_argument(
        "--auto-approve", action="store_true",
        help="run write_file and exec_shell without asking (chat param approval: \"auto\" too)",
    )
    parser.add_argument(
        "--max-tool-rounds", type=_positive_int, default=DEFAULT_MAX_TOOL_ROUNDS,
        help="tool rounds per chat before it ends with done_reason tool_limit (default 10)",
    )
    parser.add_argument(
        "--shell-timeout", type=_positive_float, default=DEFAULT_SHELL_TIMEOUT_S,
        help="seconds an exec_shell command may run (default 60)",
    )
    parser.add_argument(
        "--mcp-config", metavar="FILE",
        help="MCP servers as tool sources: a JSON file {\"mcpServers\": {NAME: {command, args, env, "
        "cwd} | {url, headers}}} as Claude Desktop, Cursor and Cline write it (see docs/protocol.md)",
    )
    parser.add_argument(
        "--stdio", choices=["auto", "threads"], default="auto",
        help="how stdin/stdout are read and written: auto (non-blocking pipes where possible) or "
        "threads (blocking I/O in worker threads, as on Windows)",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help="the folder of the conversations database, conversations.sqlite3 (default: the "
        "user data folder, e.g. ~/.local/share/ollama-sidecar)",
    )
    parser.add_argument(
        "--no-store", action="store_true",
        help="keep no conversations: the thread methods are refused, chats store nothing",
    )
    parser.add_argument(
        "--log-level", default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="stderr log level",
    )
    return parser


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    provider: Provider = args.provider
    try:
        url = _resolve_url(provider, args, env)
    except ValueError as exc:
        parser.error(str(exc))
    key_env = args.api_key_env if args.api_key_env is not None else DEFAULT_API_KEY_ENV[provider]
    if not key_env.strip():
        parser.error("--api-key-env needs the name of an environment variable")
    if args.no_store and args.data_dir:
        parser.error("--data-dir and --no-store contradict each other; give one")
    try:
        api_key = read_api_key(env, key_env)
    except ValueError as exc:
        parser.error(str(exc))
    servers: list[ServerConfig] = []
    if args.mcp_config is not None:
        try:
            servers = load_mcp_config(args.mcp_config)
        except McpConfigError as exc:
            parser.error(str(exc))
        if any(not s.disabled for s in servers) and importlib.util.find_spec("mcp") is None:
            parser.error(
                f"--mcp-config {args.mcp_config}: MCP servers need the mcp package "
                "(pip install 'ollama-sidecar[mcp]')"
            )
    return Config(
        mcp_config=args.mcp_config,
        mcp_servers=tuple(servers),
        provider=provider,
        base_url=url,
        model=args.model or None,
        max_chats=args.max_chats,
        max_requests=args.max_requests,
        max_line_bytes=args.max_line_bytes,
        drain_timeout_s=max(args.drain_timeout, 0.0),
        idle_timeout_s=args.idle_timeout,
        connect_timeout_s=args.connect_timeout,
        parent_pid=args.parent_pid,
        api_key=api_key,
        api_key_env=key_env,
        log_level=args.log_level,
        root=args.root,
        allow_shell=args.allow_shell,
        auto_approve=args.auto_approve,
        max_tool_rounds=args.max_tool_rounds,
        shell_timeout_s=args.shell_timeout,
        stdio=args.stdio,
        data_dir=None if args.no_store else (args.data_dir or default_data_dir()),
    )


def default_data_dir() -> str:
    """The platform's user data folder for ollama-sidecar (XDG_DATA_HOME on Linux)."""
    import platformdirs

    return platformdirs.user_data_dir("ollama-sidecar", appauthor=False)


def _resolve_url(provider: str, args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """The upstream's base URL: flags first, then the environment (see the flags' help)."""
    if provider == "ollama":
        if args.base_url and args.ollama_url:
            raise ValueError("--base-url and --ollama-url mean the same with --provider ollama; give one")
        return parse_ollama_host(args.base_url or args.ollama_url or env.get("OLLAMA_HOST"))
    # An explicit --ollama-url (Ollama's own /v1) beats the environment's OPENAI_BASE_URL.
    base = args.base_url or ("" if args.ollama_url else env.get("OPENAI_BASE_URL", "").strip())
    if base:
        return parse_base_url(base)
    # Ollama's own OpenAI endpoint: where --ollama-url / OLLAMA_HOST say Ollama is, plus /v1.
    return parse_ollama_host(args.ollama_url or env.get("OLLAMA_HOST")) + OPENAI_DEFAULT_PATH
