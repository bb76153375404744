"""A thread as a document: JSON (the thread and its messages as get_thread gives them) or
Markdown (a heading per message, for reading). Pure."""

from __future__ import annotations

from typing import Final

import msgspec

from ..thread_protocol import StoredMessage, ThreadInfo

_ROLE_NAMES: Final = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


class ThreadDocument(msgspec.Struct):
    thread: ThreadInfo
    messages: list[StoredMessage]


def export_json(thread: ThreadInfo, messages: list[StoredMessage]) -> str:
    return msgspec.json.format(
        msgspec.json.encode(ThreadDocument(thread, messages)).decode(), indent=2
    )


def export_markdown(thread: ThreadInfo, messages: list[StoredMessage]) -> str:
    out = [f"# {thread.title or 'Untitled conversation'}", ""]
    meta = [f"Created {thread.created_at}"]
    if thread.model:
        meta.append(f"model {thread.model}")
    out += [", ".join(meta), ""]
    if thread.system:
        out += ["## System", "", thread.system, ""]
    for message in messages:
        heading = _ROLE_NAMES.get(message.role, message.role.capitalize())
        if message.role == "tool" and message.tool_name:
            heading += f" ({message.tool_name})"
        if message.status != "complete":
            heading += f" [{message.status}]"
        out += [f"## {heading}", ""]
        if message.thinking:
            out += ["> " + line for line in message.thinking.splitlines()] + [""]
        if message.content:
            out += [message.content, ""]
        for call in message.tool_calls or []:
            args = msgspec.json.encode(call.function.arguments).decode()
            out += [f"Calls `{call.function.name}` with `{args}`", ""]
        if message.error:
            out += [f"Error ({message.error.kind}): {message.error.message}", ""]
    return "\n".join(out).rstrip() + "\n"
