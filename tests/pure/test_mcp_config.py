"""`--mcp-config` (sidecar/tools/mcp/config.py): the mcpServers shapes accepted, every refusal
naming the file, the server and the field, the exposed SERVER__TOOL names, and MCP results as the
model reads them (sidecar/tools/mcp/results.py)."""

from __future__ import annotations

import msgspec
import pytest

from sidecar.config import load_config
from sidecar.tools.mcp.config import McpConfigError, exposed_name, parse_mcp_config
from sidecar.tools.mcp.results import to_model_text

PATH = "/home/u/mcp.json"


def parse(doc: object) -> list:
    return parse_mcp_config(msgspec.json.encode(doc), PATH)


def test_stdio_and_http_servers_with_the_cline_fields() -> None:
    stdio, http = parse(
        {
            "mcpServers": {
                "fs": {
                    "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/p"],
                    "env": {"A": "1"}, "cwd": "/tmp", "autoApprove": ["read_file"], "timeout": 5,
                },
                "remote": {"url": "https://example.test/mcp", "headers": {"Authorization": "Bearer x"},
                           "disabled": True},
            }
        }
    )
    assert (stdio.name, stdio.transport, stdio.command, stdio.args) == (
        "fs", "stdio", "npx", ("-y", "@modelcontextprotocol/server-filesystem", "/p"),
    )
    assert (stdio.env, stdio.cwd, stdio.auto_approve, stdio.timeout_s) == ({"A": "1"}, "/tmp", {"read_file"}, 5.0)
    assert (http.transport, http.url, http.disabled, http.timeout_s) == ("http", "https://example.test/mcp", True, 60.0)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"args": ["x"]}, "command"),
        ({"args": ["x"]}, "url"),
        ({"command": "a", "url": "http://x"}, "command"),
        ({"command": ""}, "command"),
        ({"command": "a", "args": "x"}, "args"),
        ({"command": "a", "args": [1]}, "args"),
        ({"command": "a", "env": {"A": 1}}, "env"),
        ({"command": "a", "cwd": 3}, "cwd"),
        ({"command": "a", "autoApprove": "read_file"}, "autoApprove"),
        ({"command": "a", "timeout": 0}, "timeout"),
        ({"command": "a", "timeout": "5"}, "timeout"),
        ({"command": "a", "disabled": "yes"}, "disabled"),
        ({"command": "a", "url_typo": 1}, "url_typo"),
        ({"url": "ftp://x"}, "url"),
        ({"url": "http://x", "headers": []}, "headers"),
        ({"url": "http://x", "args": []}, "args"),
    ],
)
def test_a_wrong_field_is_refused_naming_file_server_and_field(entry: dict, field: str) -> None:
    with pytest.raises(McpConfigError) as caught:
        parse({"mcpServers": {"good": {"command": "a"}, "bad one": entry}})
    message = str(caught.value)
    assert PATH in message and "'bad one'" in message and f"'{field}'" in message


@pytest.mark.parametrize("text", ["{", "[]", '{"servers": {}}', '{"mcpServers": []}'])
def test_a_file_that_is_not_an_mcpservers_object_is_refused(text: str) -> None:
    with pytest.raises(McpConfigError, match="/home/u/mcp.json"):
        parse_mcp_config(text, PATH)


def test_servers_whose_names_would_clash_are_refused() -> None:
    with pytest.raises(McpConfigError, match="clash"):
        parse({"mcpServers": {"a.b": {"command": "x"}, "a_b": {"command": "y"}}})


def test_exposed_names_are_safe_short_and_unique() -> None:
    assert exposed_name("my server", "read.file", set()) == "my_server__read_file"
    long = exposed_name("s" * 40, "t" * 40, set())
    assert len(long) == 64 and long.startswith("s" * 40 + "__")
    again = exposed_name("s" * 40, "t" * 40, {long})
    assert len(again) <= 64 and again != long and again.endswith("_2")


def test_the_flag_exits_2_on_a_bad_file(tmp_path, capsys) -> None:
    bad = tmp_path / "mcp.json"
    bad.write_text('{"mcpServers": {"x": {"command": 1}}}')
    with pytest.raises(SystemExit) as caught:
        load_config(["--mcp-config", str(bad)], env={})
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'x'" in err and "'command'" in err
    good = tmp_path / "ok.json"
    good.write_text('{"mcpServers": {"x": {"command": "node"}}}')
    config = load_config(["--mcp-config", str(good)], env={})
    assert [s.name for s in config.mcp_servers] == ["x"]


def test_results_become_the_text_the_model_reads() -> None:
    text = to_model_text({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    assert (text.content, text.is_error) == ("a\nb", False)
    structured = to_model_text({"content": [], "structuredContent": {"t": 21}})
    assert structured.content == '{"t":21}'
    media = to_model_text(
        {
            "content": [
                {"type": "image", "data": "AAA", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
                {"type": "resource_link", "uri": "file:///b", "name": "b"},
            ],
            "isError": True,
        }
    )
    assert "[image image/png" in media.content and "file:///a.txt" in media.content
    assert "inside" in media.content and "resource link b" in media.content
    assert media.is_error is True and media.mcp_content[0]["data"] == "AAA"

