"""SSE framing: the data of each event, whatever the line ends and however the reads split."""

import pytest

from sidecar.framing import OversizedLine
from sidecar.providers.openai.sse import SSEDecoder


def events(data: bytes, pieces: int = 0, limit: int = 1 << 20) -> list[bytes | OversizedLine]:
    """Feeds `data` whole (or `pieces` bytes per read), then the end of the body."""
    decoder = SSEDecoder(limit)
    reads = [data] if not pieces else [data[i : i + pieces] for i in range(0, len(data), pieces)]
    out: list[bytes | OversizedLine] = []
    for read in reads:
        out += decoder.feed(read)
    return out + decoder.flush()


@pytest.mark.parametrize("pieces", [0, 1, 2, 5])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_events_are_read_with_any_line_end_and_any_read_size(eol: bytes, pieces: int) -> None:
    stream = b"data: {\"a\":1}\n\ndata: [DONE]\n\n".replace(b"\n", eol)
    assert events(stream, pieces) == [b'{"a":1}', b"[DONE]"]


def test_several_data_lines_are_joined_with_a_newline() -> None:
    assert events(b'data: {"a":\ndata: 1}\n\n') == [b'{"a":\n1}']


def test_comments_and_other_fields_are_ignored() -> None:
    stream = (
        b": keep-alive\n\n"
        b":\n"
        b"event: message\nid: 7\nretry: 1000\nfoo: bar\n"
        b"data: x\n\n"
        b": ping\n\n"
    )
    assert events(stream) == [b"x"]


def test_one_space_after_the_colon_is_dropped_and_no_more() -> None:
    assert events(b"data:x\n\ndata:  y\n\ndata\n\n") == [b"x", b" y", b""]


def test_a_blank_line_without_data_dispatches_nothing() -> None:
    assert events(b"\n\n\n\r\n") == []


def test_a_crlf_split_across_reads_is_one_line_end() -> None:
    decoder = SSEDecoder(1 << 20)
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []  # the LF pairs with the CR: no blank line yet
    assert decoder.feed(b"\n\r") == [b"a\nb"]  # a lone CR ends the (blank) line at once
    assert decoder.feed(b"\n") == []  # ...and this LF is its pair, not another blank line
    assert decoder.feed(b"data: c\n\n") == [b"c"]


def test_an_event_cut_off_by_the_end_of_the_body_is_still_read() -> None:
    assert events(b"data: 1\n\ndata: [DONE]") == [b"1", b"[DONE]"]
    assert events(b"data: [DONE]\n") == [b"[DONE]"]


def test_a_multibyte_character_split_across_reads_is_kept_whole() -> None:
    text = "data: {\"t\":\"héllo ✓\"}\n\n".encode()
    assert [e.decode() for e in events(text, pieces=1)] == ['{"t":"héllo ✓"}']  # type: ignore[union-attr]


def test_an_oversized_event_is_reported_not_held() -> None:
    oversized, ok = events(b"data: " + b"x" * 100 + b"\n\ndata: ok\n\n", limit=50)
    assert isinstance(oversized, OversizedLine) and oversized.size == 106
    assert ok == b"ok"
    many_lines = b"data: 0123456789\n" * 10 + b"\n"
    [oversized] = events(many_lines, limit=50)
    assert isinstance(oversized, OversizedLine) and oversized.size > 50


def test_an_oversized_event_arriving_in_small_reads_is_dropped_then_reading_goes_on() -> None:
    decoder = SSEDecoder(50)
    out: list[bytes | OversizedLine] = []
    stream = b"data: " + b"y" * 200 + b"\n\ndata: next\n\n"
    for i in range(0, len(stream), 8):
        out += decoder.feed(stream[i : i + 8])
        assert decoder.pending <= 52  # held bytes stay bounded while the event is dropped
    oversized, nxt = out
    assert isinstance(oversized, OversizedLine) and oversized.size >= 200
    assert nxt == b"next"
