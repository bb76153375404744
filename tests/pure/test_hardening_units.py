"""The pure pieces behind issue 11, tested synchronously: the request bound, framing across read
boundaries, deep JSON, SSE error fields. The real-process tests are in test_overload.py and
test_hardening_*.py."""

from __future__ import annotations

import pytest

from sidecar import errors
from sidecar.admission import Admission
from sidecar.framing import LineSplitter, OversizedLine
from sidecar.providers.http1 import ChunkedBody, ProtocolError
from sidecar.rpc import BadRequest, decode_request
from sidecar.providers.openai.sse import SSEDecoder


def test_the_bound_refuses_past_the_limit_and_never_counts_exempt_methods() -> None:
    admission = Admission(2)
    assert admission.enter("status") and admission.enter("chat")
    with pytest.raises(errors.RpcError) as refused:
        admission.enter("list_models")
    assert refused.value.code == errors.OVERLOADED and refused.value.kind == "overloaded"
    assert refused.value.hint is not None
    assert not admission.enter("cancel_chat") and not admission.enter("shutdown")
    admission.leave()
    assert admission.enter("list_models")


@pytest.mark.parametrize("reads", [[b"abcd\r\n"], [b"abcd\r", b"\n"], [b"ab", b"cd\r", b"\n"]])
def test_a_line_of_exactly_the_limit_is_kept_whatever_the_read_boundaries(reads: list[bytes]) -> None:
    splitter = LineSplitter(4)
    assert [line for data in reads for line in splitter.feed(data)] == [b"abcd"]


def test_a_cr_that_is_not_a_terminator_still_counts() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcd\r") == []
    [line] = splitter.feed(b"x\n")
    assert isinstance(line, OversizedLine) and line.size == 6


def test_good_chunks_before_broken_framing_come_out_then_the_error() -> None:
    decoder = ChunkedBody()
    assert decoder.feed(b"3\r\np0 \r\n3\r\np1 \r\nzz\r\n") == b"p0 p1 "
    with pytest.raises(ProtocolError):
        decoder.feed(b"")


@pytest.mark.parametrize(
    ("line", "code", "request_id"),
    [
        (b"[" * 5000, errors.PARSE_ERROR, None),
        (b"[" * 5000 + b"]" * 5000, errors.INVALID_REQUEST, None),
        (b'{"id":"d","x":"]]]","p":' + b"[" * 5000 + b"]" * 5000 + b"}", errors.INVALID_REQUEST, "d"),
        (b'{"method":"status","id":-3,"p":' + b"{\"a\":" * 5000 + b"0" + b"}" * 5001, errors.INVALID_REQUEST, -3),
        (b'{"p":{"id":1,"q":' + b"[" * 5000 + b"]" * 5000 + b"}}", errors.INVALID_REQUEST, None),
    ],
)
def test_deep_json_is_a_parse_error_or_an_invalid_request(
    line: bytes, code: int, request_id: object
) -> None:
    with pytest.raises(BadRequest) as bad:
        decode_request(line, 1 << 30)
    assert bad.value.error.code == code and bad.value.id == request_id


@pytest.mark.parametrize(
    ("body", "data"),
    [
        (b'error: {"message":"full"}\n\n', b'{"error":{"message":"full"}}'),
        (b"error: full\n\n", b'{"error":"full"}'),
        (b'{"error":"full"}\ndata: [DONE]\n\n', b'{"error":"full"}'),
    ],
)
def test_what_a_server_says_outside_data_fields_is_kept(body: bytes, data: bytes) -> None:
    events = SSEDecoder(1 << 20).feed(body)
    assert events[0] == data
