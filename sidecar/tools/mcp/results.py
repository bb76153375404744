"""An MCP tool result as the model reads it (pure: works on the result as plain JSON data).

The model gets one text: the `text` items joined; `structuredContent` as JSON text when there is
no text; images, audio and resources named in a short line the model can read (an embedded text
resource's text is included). `mcp_content` keeps the MCP `content` array as the server sent
it, for the window. `isError` becomes `is_error`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class McpResult:
    content: str
    is_error: bool
    mcp_content: list[dict[str, Any]]


def to_model_text(result: dict[str, Any]) -> McpResult:
    """`result` is a `CallToolResult` as JSON (`content`, `structuredContent`, `isError`)."""
    items = result.get("content") or []
    if not isinstance(items, list):
        items = []
    parts: list[str] = []
    has_text = False
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            has_text = True
            parts.append(str(item.get("text", "")))
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {item.get('mimeType', 'of unknown type')}, shown to the user]")
        elif kind == "resource_link":
            name = item.get("name") or item.get("uri", "")
            parts.append(f"[resource link {name}: {item.get('uri', '')}]")
        elif kind == "resource":
            resource = item.get("resource") or {}
            uri = resource.get("uri", "")
            if isinstance(resource.get("text"), str):
                parts.append(f"[resource {uri}]\n{resource['text']}")
            else:
                mime = resource.get("mimeType", "binary")
                parts.append(f"[resource {uri} ({mime}), shown to the user]")
        else:
            parts.append(f"[{kind} content]")
    structured = result.get("structuredContent")
    if not has_text and structured is not None:
        parts.insert(0, msgspec.json.encode(structured).decode())
    is_error = bool(result.get("isError", False))
    text = "\n".join(parts)
    if not text:
        text = "(the tool returned nothing)" if not is_error else "(the tool failed without a message)"
    return McpResult(text, is_error, [i for i in items if isinstance(i, dict)])
