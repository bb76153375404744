"""Decoding of input lines: every malformed shape gets its own code and a readable message."""

from typing import Any

import msgspec
import pytest

from sidecar import errors
from sidecar.framing import OversizedLine
from sidecar.methods import METHODS
from sidecar.providers.ollama.errors import model_not_found
from sidecar.errors import RpcError
from sidecar.rpc import BadRequest, Request, decode_params, decode_request, encode_error

LIMIT = 1024


def rejected(line: bytes | OversizedLine) -> tuple[int, object, str]:
    with pytest.raises(BadRequest) as exc:
        decode_request(line, LIMIT)
    return exc.value.error.code, exc.value.id, exc.value.error.message


def test_error_codes_are_pinned() -> None:
    assert (errors.PARSE_ERROR, errors.INVALID_REQUEST, errors.METHOD_NOT_FOUND) == (
        -32700, -32600, -32601,
    )
    assert (errors.INVALID_PARAMS, errors.INTERNAL_ERROR) == (-32602, -32603)
    assert (
        errors.OLLAMA_UNREACHABLE, errors.MODEL_NOT_FOUND, errors.UPSTREAM_ERROR,
        errors.STREAM_INTERRUPTED, errors.BUSY,
    ) == (-32000, -32001, -32002, -32003, -32004)


def test_a_valid_request_keeps_its_id_method_and_raw_params() -> None:
    request = decode_request(b'{"jsonrpc":"2.0","id":"a","method":"chat","params":{"x":1}}', LIMIT)
    assert request is not None
    assert (request.id, request.method, bytes(request.params)) == ("a", "chat", b'{"x":1}')


def test_jsonrpc_may_be_left_out_and_no_id_makes_a_notification() -> None:
    request = decode_request(b'{"method":"status"}', LIMIT)
    assert request == Request(id=None, method="status", params=None)
    assert request.is_notification


def test_blank_lines_are_ignored() -> None:
    assert decode_request(b"   ", LIMIT) is None


@pytest.mark.parametrize(
    ("line", "code", "message_part"),
    [
        (b"garbage", -32700, "malformed"),
        (b'{"id":1,"method":"status"', -32700, "truncated"),
        (b"[1,2", -32700, "truncated"),
        (b'{"id":1,"method":"st\xffatus"}', -32700, "invalid UTF-8"),
        (b"[]", -32600, "batch"),
        (b'[{"id":1,"method":"status"}]', -32600, "batch"),
        (b"42", -32600, "got a number"),
        (b'"status"', -32600, "got a string"),
        (b"null", -32600, "got null"),
        (b'{"id":1.5,"method":"status"}', -32600, "id must be"),
        (b'{"id":true,"method":"status"}', -32600, "id must be"),
        (b'{"id":null,"method":"status"}', -32600, "id must be"),
        (b'{"id":{},"method":"status"}', -32600, "id must be"),
    ],
)
def test_malformed_lines_answer_with_a_null_id(line: bytes, code: int, message_part: str) -> None:
    got_code, got_id, message = rejected(line)
    assert (got_code, got_id) == (code, None)
    assert message_part in message


@pytest.mark.parametrize(
    ("line", "message_part"),
    [
        (b'{"jsonrpc":"1.0","id":7,"method":"status"}', '"jsonrpc" must be "2.0"'),
        (b'{"jsonrpc":2,"id":7,"method":"status"}', '"jsonrpc" must be "2.0"'),
        (b'{"id":7}', 'missing "method"'),
        (b'{"id":7,"method":3}', '"method" must be a string'),
    ],
)
def test_invalid_requests_with_a_valid_id_echo_it(line: bytes, message_part: str) -> None:
    code, request_id, message = rejected(line)
    assert (code, request_id) == (-32600, 7)
    assert message_part in message


def test_an_oversized_line_is_an_invalid_request() -> None:
    code, request_id, message = rejected(OversizedLine(5000))
    assert (code, request_id) == (-32600, None)
    assert "5000 bytes" in message and "--max-line-bytes" in message


@pytest.mark.parametrize(
    ("params", "path"),
    [
        (b'{"messages":[{"role":"user","content":5}]}', "$.messages[0].content"),
        (b'{"messages":[{"content":"hi"}]}', "$.messages[0]"),
        (b'{"messages":"hi"}', "$.messages"),
        (b'{"messages":[{"role":"user"}],"options":[]}', "$.options"),
        (b'{"messages":[{"role":"user"}],"think":"very"}', "$.think"),
        (b"[1]", "Expected `object`, got `array`"),
    ],
)
def test_bad_chat_params_name_the_path(params: bytes, path: str) -> None:
    request = Request(id=1, method="chat", params=msgspec.Raw(params))
    with pytest.raises(errors.RpcError) as exc:
        decode_params(request, METHODS["chat"].decoder)
    assert exc.value.code == -32602
    assert path in exc.value.message


def test_chat_params_pass_ollama_fields_through() -> None:
    raw = (
        b'{"model":"m","messages":[{"role":"user","content":"hi","images":["AA=="]}],'
        b'"options":{"temperature":0},"think":"high","format":{"type":"object"},"keep_alive":"5m"}'
    )
    params = decode_params(Request(1, "chat", msgspec.Raw(raw)), METHODS["chat"].decoder)
    assert params.think == "high" and params.keep_alive == "5m"
    assert params.messages[0].images == ["AA=="]


def test_error_responses_carry_kind_hint_and_extras() -> None:
    error = model_not_found("llama9", "model 'llama9' not found")
    error.extra["messages"] = []
    line = msgspec.json.decode(encode_error(3, error))
    assert line == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {
            "code": -32001,
            "message": "Model 'llama9' is not installed in Ollama: model 'llama9' not found",
            "data": {
                "kind": "model_not_found",
                "hint": (
                    "Pull it with the pull_model method (in a terminal: `ollama pull llama9`), "
                    "or pick an installed model (list_models)."
                ),
                "messages": [],
            },
        },
    }


# --- exact messages and ids (found by scripts/mutate; docs/testing.md) ---------------------------
DEEP = b"[" * 5000 + b"]" * 5000
EXACT = [
    (b"true", None, -32600, "expected a JSON object, got a boolean"),
    (b"1.5", None, -32600, "expected a JSON object, got a number"),
    (b'"s"', None, -32600, "expected a JSON object, got a string"),
    (b"null", None, -32600, "expected a JSON object, got null"),
    (b"[1]", None, -32600, "batch requests are not supported; send one request per line"),
    (b'{"id":true,"method":"x"}', None, -32600, "id must be an integer or a string, got a boolean"),
    (b'{"id":1.5}', None, -32600, "id must be an integer or a string, got a number"),
    (b'{"id":[1]}', None, -32600, "id must be an integer or a string, got an array"),
    (b'{"id":{}}', None, -32600, "id must be an integer or a string, got an object"),
    (b'{"id":null}', None, -32600, "id must be an integer or a string, got null"),
    (b'{"id":1,"jsonrpc":"1.0","method":"x"}', 1, -32600, '"jsonrpc" must be "2.0" (or left out)'),
    (b'{"id":1}', 1, -32600, 'missing "method"'),
    (b'{"id":1,"method":true}', 1, -32600, '"method" must be a string, got a boolean'),
    (b'{"id":1,"method":1.5}', 1, -32600, '"method" must be a string, got a number'),
    (b'{"id":1,\xff}', None, -32700, "invalid UTF-8 at byte 8"),
    (b"[" * 5000, None, -32700, "invalid JSON: unbalanced brackets"),
    (DEEP, None, -32600, "JSON nested too deeply (more than about 1,000 levels)"),
    # The id of a line too deep to decode is found past nested values, past "id" used as a
    # value, and after leading whitespace.
    (b'  {"a":[1],"b":{"c":{}},"x":"id","id":7,"d":' + DEEP + b"}", 7, -32600,
     "JSON nested too deeply (more than about 1,000 levels)"),
    (b'{"a":[[1]],"id":"s","d":' + DEEP + b"}", "s", -32600,
     "JSON nested too deeply (more than about 1,000 levels)"),
    (b'{"b":{"c":[0],"id":5},"id":7,"d":' + DEEP + b"}", 7, -32600,  # a nested "id" is not it
     "JSON nested too deeply (more than about 1,000 levels)"),
]


@pytest.mark.parametrize(("line", "id", "code", "detail"), EXACT)
def test_each_bad_line_has_its_exact_message_and_id(line: bytes, id: object, code: int, detail: str) -> None:
    prefix = {-32700: "Parse error: ", -32600: "Invalid request: "}[code]
    assert rejected(line) == (code, id, prefix + detail)


def test_an_oversized_line_names_its_size_and_the_limit() -> None:
    assert rejected(OversizedLine(2000)) == (
        -32600, None, "Invalid request: line of 2000 bytes exceeds the limit of 1024 bytes (--max-line-bytes)",
    )


def test_params_too_deep_to_decode_are_an_invalid_request() -> None:
    params = b'{"messages":[{"role":"user"}],"options":{"a":' + DEEP + b"}}"
    request = Request(id=1, method="chat", params=msgspec.Raw(params))
    with pytest.raises(errors.RpcError) as exc:
        decode_params(request, METHODS["chat"].decoder)
    assert (exc.value.code, exc.value.message) == (
        -32600, "Invalid request: JSON nested too deeply (more than about 1,000 levels)",
    )


def _big(envelope: bytes) -> bytes:
    """`envelope` (a JSON object with a `%s` where the messages go) with 300 KB of messages."""
    message = b'{"role":"user","content":"' + b"x" * 1000 + b'"}'
    return envelope.replace(b"%s", b"[" + b",".join([message] * 300) + b"]")


@pytest.mark.parametrize("line", [
    _big(b'{"jsonrpc":"2.0","id":7,"method":"chat","params":{"model":"m","messages":%s}}'),
    _big(b'{"id":"x","method":"chat","params":{"messages":%s},"extra":1}'),
    _big(b'{"method":"chat","params":{"messages":%s}}'),
    _big(b'{"params":{"messages":%s},"method":"chat","id":3}'),
    _big(b'{"id":null,"method":"chat","params":{"messages":%s}}'),
    _big(b'{"id":1.5,"method":"chat","params":{"messages":%s}}'),
    _big(b'{"id":true,"method":"chat","params":{"messages":%s}}'),
    _big(b'{"jsonrpc":"1.0","id":1,"method":"chat","params":{"messages":%s}}'),
    _big(b'{"id":1,"method":"status","params":{"messages":%s}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s,"think":"hard"}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s},"x":"\xff"}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s}'),
    _big(b'{"id":1,"method":"chat"}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s,"model":"\xc3\xa9"}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":[],"model":"m"},"pad":%s}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s,"model":""}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s,"tools":[1]}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s,"options":{"a":[1,{"b":2}]},'
         b'"keep_alive":"5m","tool_choice":{"type":"function","function":{"name":"f"}}}}'),
    _big(b'{"id":1,"method":"chat","params":{"messages":%s}}').replace(b'"user"', b'"user","content":7', 1),
])
def test_a_big_line_in_pieces_is_what_two_passes_make_of_it(line: bytes) -> None:
    """`decode_chat_head` + `decode_messages` + `chat_params` either give exactly the request
    and params of the two-step path, or decline, and then the two-step path answers as it
    always did."""
    from sidecar.rpc import chat_params, decode_chat_head, decode_messages

    head = decode_chat_head(line)
    one: Any = None
    if head is not None:
        messages = decode_messages(head[1].messages)
        if messages is not None:
            one = (head[0].id, head[0].method, chat_params(head[1], messages))
    try:
        request = decode_request(line, 1 << 24)
        assert request is not None
        two: Any = (request.id, request.method, decode_params(request, METHODS[request.method].decoder))
    except (BadRequest, RpcError, KeyError) as exc:
        two = exc
    if one is not None:
        assert one == two
    else:
        # (A chat without messages decodes, for a thread's chat; admission decides: server.py.)
        declined_ok = isinstance(two, Exception) or two[1] != "chat" or not two[2].messages
        assert declined_ok, "a valid chat line declined"
