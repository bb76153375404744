"""The store's text helpers: a thread's title from its first message, a search box's words as
an FTS5 query (never FTS5 syntax), and the Markdown export."""

from __future__ import annotations

from sidecar.protocol import ToolCall, ToolCallFunction
from sidecar.store.export import export_markdown
from sidecar.store.threads import fts_query, title_from
from sidecar.thread_protocol import StoredError, StoredMessage, ThreadInfo


def test_a_title_is_the_first_words_on_one_line() -> None:
    assert title_from("Why is\nthe sky blue?") == "Why is the sky blue?"
    assert title_from("one two three four five six seven eight nine ten") == (
        "one two three four five six seven eight…"
    )
    assert len(title_from("x" * 500)) == 60


def test_search_words_become_quoted_prefixes() -> None:
    assert fts_query("sky blue") == '"sky"* "blue"*'
    assert fts_query('NEAR("a" OR b) -c*') == '"NEAR"* "a"* "OR"* "b"* "c"*'
    assert fts_query("  !!  ") is None


def message(id: str, role: str, content: str, **extra: object) -> StoredMessage:
    fields: dict[str, object] = {"status": "complete", **extra}
    return StoredMessage(
        id=id, parent_id=None, role=role, content=content,
        created_at="2026-12-07T12:00:00.000000Z", versions=[id], **fields,  # type: ignore[arg-type]
    )


def test_markdown_export_has_a_section_per_message() -> None:
    thread = ThreadInfo("thr_1", "Sky", "llama3.2", "Be brief.", "2026-12-07T12:00:00.000000Z", "x")
    call = ToolCall(ToolCallFunction("read_file", {"path": "a.txt"}), id="call_1")
    text = export_markdown(thread, [
        message("m1", "user", "Why?"),
        message("m2", "assistant", "", thinking="Hmm.\nWell.", tool_calls=[call]),
        message("m3", "tool", "hello", tool_name="read_file"),
        message("m4", "assistant", "Because.", status="failed", error=StoredError("upstream_error", "boom")),
    ])
    assert text == (
        "# Sky\n\nCreated 2026-12-07T12:00:00.000000Z, model llama3.2\n\n## System\n\nBe brief.\n\n"
        "## User\n\nWhy?\n\n## Assistant\n\n> Hmm.\n> Well.\n\n"
        'Calls `read_file` with `{"path":"a.txt"}`\n\n'
        "## Tool (read_file)\n\nhello\n\n"
        "## Assistant [failed]\n\nBecause.\n\nError (upstream_error): boom\n"
    )
