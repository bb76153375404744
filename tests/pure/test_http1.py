"""The HTTP/1.1 response reader that the chat stream uses (pure, no sockets)."""

import pytest

from sidecar.providers.http1 import (
    ChunkedBody,
    CloseDelimitedBody,
    HeadParser,
    LengthBody,
    ProtocolError,
    ResponseHead,
    encode_request,
)

LINES = [f'{{"message":{{"content":"tok{i} é"}},"done":false}}\n'.encode() for i in range(50)]


def chunked(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def decode_in_reads(decoder, data: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        out += decoder.feed(data[i : i + size])
    return out


@pytest.mark.parametrize("read_size", [1, 2, 3, 7, 64, 100_000])
def test_chunked_body_decodes_whatever_the_read_boundaries(read_size: int) -> None:
    decoder = ChunkedBody()
    assert decode_in_reads(decoder, chunked(LINES), read_size) == b"".join(LINES)
    assert decoder.done


def test_one_read_of_many_chunks_comes_out_as_one_piece() -> None:
    decoder = ChunkedBody()
    assert decoder.feed(chunked(LINES)[:-5]) == b"".join(LINES)
    assert not decoder.done
    assert decoder.feed(b"0\r\n\r\n") == b"" and decoder.done


def test_chunk_extensions_and_trailers_are_skipped() -> None:
    decoder = ChunkedBody()
    data = b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert decoder.feed(data) == b"abc" and decoder.done


@pytest.mark.parametrize("data", [b"zz\r\nabc\r\n", b"-1\r\n", b"3\r\nabcX\r\n", b"f" * 2000])
def test_broken_chunk_framing_is_a_protocol_error(data: bytes) -> None:
    decoder = ChunkedBody()
    with pytest.raises(ProtocolError):
        decoder.feed(data)
        decoder.feed(b"")  # after the good bytes before the break, if there were any


def test_a_chunked_body_cut_short_is_an_error_at_eof() -> None:
    decoder = ChunkedBody()
    decoder.feed(b"5\r\nab")
    with pytest.raises(ProtocolError, match="before the end of the body"):
        decoder.eof()


def test_length_and_close_delimited_bodies() -> None:
    length = LengthBody(5)
    assert length.feed(b"abc") == b"abc" and not length.done
    assert length.feed(b"defgh") == b"de" and length.done
    close = CloseDelimitedBody()
    assert close.feed(b"xyz") == b"xyz"
    close.eof()
    assert close.done


def test_head_parser_returns_the_head_and_the_body_bytes_after_it() -> None:
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not") == (None, b"")
    head, rest = parser.feed(
        b" Found\r\nContent-Type: application/json\r\nSet-Cookie: a\r\nset-cookie: b\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert head == ResponseHead(
        404, "Not Found",
        {"content-type": "application/json", "set-cookie": "a, b", "content-length": "2"},
    )
    assert rest == b"{}"
    assert isinstance(head.body_decoder("POST"), LengthBody)


def test_body_framing_is_chosen_from_the_head() -> None:
    chunked_head = ResponseHead(200, "OK", {"transfer-encoding": "chunked"})
    assert isinstance(chunked_head.body_decoder("POST"), ChunkedBody)
    assert isinstance(ResponseHead(200, "OK", {}).body_decoder("POST"), CloseDelimitedBody)
    assert ResponseHead(200, "OK", {"content-length": "9"}).body_decoder("HEAD").done
    with pytest.raises(ProtocolError):
        ResponseHead(200, "OK", {"content-length": "x"}).body_decoder("POST")


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad\r\n\r\n"])
def test_a_head_that_is_not_http_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        HeadParser().feed(data)


def test_encode_request_writes_head_and_body() -> None:
    assert encode_request("POST", "/api/chat", "[::1]:11434", {"Accept": "x"}, b"{}") == (
        b"POST /api/chat HTTP/1.1\r\nHost: [::1]:11434\r\nAccept: x\r\nContent-Length: 2\r\n\r\n{}"
    )


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\0"])
def test_a_header_value_cannot_break_the_request_head(value: str) -> None:
    with pytest.raises(ValueError) as raised:
        encode_request("GET", "/", "h", {"Authorization": value})
    assert "Authorization" in str(raised.value) and value not in str(raised.value)
