"""Decoding one input line into a JSON-RPC request, and encoding responses. Pure.

The checks run in the order that lets an error carry the most: the id is read first so that an
invalid request with a readable, valid id is answered with that id (contract notes); `null` is
used only when no valid id can be read.

A line nested deeper than msgspec decodes (about 1,000 levels: it stops at Python's recursion
limit) cannot be decoded at all. Its brackets, outside strings, are counted: when they do not
balance the line is not JSON (-32700, id null); when they do, it is an invalid request (-32600),
answered with its `id` when a top-level `id` can be read from the line's first 64 KiB.

A big line (a long conversation sent whole: megabytes) would hold the loop for the whole of its
decoding, so a big `chat` line is read in pieces: `decode_chat_head` reads the envelope and the
params with each message left raw (a quick scan), `decode_messages` decodes the messages a batch
at a time (the dispatcher lets the loop run in between), `chat_params` puts them together. When
any piece fails, `decode_request` (then `decode_params`) reads the line as always and says what
is wrong. UTF-8 is checked with `bytes.isascii` first, a fraction of a validating decode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from . import errors
from .framing import OversizedLine, encode_line
from .protocol import (
    ChatParams,
    ErrorObject,
    ErrorResponse,
    Message,
    RequestId,
    Response,
    any_decoder,
    chat_envelope_decoder,
    envelope_decoder,
    message_decoder,
)


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId | None  # None for a notification
    method: str
    params: msgspec.Raw | None  # None when the request has no params

    @property
    def is_notification(self) -> bool:
        return self.id is None


class BadRequest(Exception):
    """A line that is not a valid request; answer `error` with `id` (None -> null)."""

    def __init__(self, error: errors.RpcError, id: RequestId | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.id = id


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "a number", float: "a number", str: "a string",
        list: "an array", dict: "an object", type(None): "null",
    }.get(type(value), type(value).__name__)


# JSON strings (with their escapes) and the brackets outside them.
_STRING_OR_BRACKET: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_KEY_COLON: Final = re.compile(rb"\s*:\s*")
_ID_VALUE: Final = re.compile(rb'-?\d+(?![\d.eE])|"(?:[^"\\]|\\.)*"')
DEEP_ID_SCAN_BYTES: Final = 64 * 1024


def _too_deep(line: bytes) -> BadRequest:
    """The answer to a line msgspec gave up on for its depth (see the module docstring)."""
    flat = _STRING.sub(b"", line)
    opened = flat.count(b"[") + flat.count(b"{")
    if opened != flat.count(b"]") + flat.count(b"}"):
        return BadRequest(errors.parse_error("invalid JSON: unbalanced brackets"))
    detail = "JSON nested too deeply (more than about 1,000 levels)"
    if not line.lstrip().startswith(b"{"):
        return BadRequest(errors.invalid_request(detail))
    return BadRequest(errors.invalid_request(detail), _top_level_id(line[:DEEP_ID_SCAN_BYTES]))


def _top_level_id(text: bytes) -> RequestId | None:
    """The top-level object's `id`, when it is an integer or a string found in `text`."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth == 1 and token == b'"id"':
            colon = _KEY_COLON.match(text, match.end())
            if colon is None or text[colon.start() : colon.end()].strip() != b":":
                continue  # "id" as a value, not a key
            value = _ID_VALUE.match(text, colon.end())
            if value is None:
                return None
            try:
                decoded = any_decoder.decode(value.group())
            except msgspec.DecodeError:
                return None
            return decoded if type(decoded) in (int, str) else None
    return None


def decode_request(line: bytes | OversizedLine, max_line_bytes: int) -> Request | None:
    """Decodes one line; `None` for a blank line. Raises `BadRequest`."""
    if isinstance(line, OversizedLine):
        raise BadRequest(
            errors.invalid_request(
                f"line of {line.size} bytes exceeds the limit of {max_line_bytes} bytes "
                "(--max-line-bytes)"
            )
        )
    if not line.strip():
        return None
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(errors.parse_error(f"invalid UTF-8 at byte {exc.start}")) from None
    try:
        envelope = envelope_decoder.decode(line)
    except msgspec.ValidationError:
        # Valid JSON that is not an object, or invalid JSON that failed the type check first.
        try:
            value = any_decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise BadRequest(errors.parse_error(str(exc))) from None
        except RecursionError:
            raise _too_deep(line) from None
        if isinstance(value, list):
            raise BadRequest(
                errors.invalid_request("batch requests are not supported; send one request per line")
            ) from None
        raise BadRequest(
            errors.invalid_request(f"expected a JSON object, got {_type_name(value)}")
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(errors.parse_error(str(exc))) from None
    except RecursionError:
        raise _too_deep(line) from None

    request_id = envelope.id
    if request_id is msgspec.UNSET:
        request_id = None
    elif type(request_id) not in (int, str):
        raise BadRequest(
            errors.invalid_request(f"id must be an integer or a string, got {_type_name(request_id)}")
        )
    if envelope.jsonrpc is not msgspec.UNSET and envelope.jsonrpc != "2.0":
        raise BadRequest(
            errors.invalid_request('"jsonrpc" must be "2.0" (or left out)'), request_id
        )
    if envelope.method is msgspec.UNSET:
        raise BadRequest(errors.invalid_request('missing "method"'), request_id)
    if not isinstance(envelope.method, str):
        raise BadRequest(
            errors.invalid_request(f'"method" must be a string, got {_type_name(envelope.method)}'),
            request_id,
        )
    params = None if envelope.params is msgspec.UNSET else envelope.params
    return Request(id=request_id, method=envelope.method, params=params)


def decode_chat_head(line: bytes) -> tuple[Request, Any] | None:
    """A line as a valid `chat` request with its messages left raw: the request and the params
    head (`protocol.ChatParamsHead`); `None` when it is anything else."""
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        envelope = chat_envelope_decoder.decode(line)
    except Exception:  # invalid, or too deep: the two-step path says which
        return None
    request_id = None if envelope.id is msgspec.UNSET else envelope.id
    if (
        (envelope.id is not msgspec.UNSET and type(request_id) not in (int, str))
        or envelope.jsonrpc not in (msgspec.UNSET, "2.0")
        or envelope.method != "chat"
        or envelope.params is msgspec.UNSET
        or not envelope.params.messages  # ChatParams wants at least one
    ):
        return None
    return Request(id=request_id, method="chat", params=None), envelope.params


def decode_messages(raw: list[msgspec.Raw]) -> list[Message] | None:
    """Raw messages decoded; `None` when one is not a valid message."""
    try:
        return [message_decoder.decode(item) for item in raw]
    except Exception:
        return None


def chat_params(head: Any, messages: list[Message]) -> ChatParams:
    """The params `decode_params` would make of the line: the head's fields (already checked
    by its decoder) and the decoded messages."""
    values = {name: getattr(head, name) for name in head.__struct_fields__}
    values["messages"] = messages
    return ChatParams(**values)


def decode_params(request: Request, decoder: msgspec.json.Decoder) -> Any:
    """The method's params Struct; raises `RpcError` (invalid_params) with msgspec's path."""
    raw = b"{}" if request.params is None else bytes(request.params)
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise errors.invalid_params(str(exc)) from None
    except RecursionError:
        raise errors.invalid_request(
            "JSON nested too deeply (more than about 1,000 levels)"
        ) from None


def encode_result(request_id: RequestId | None, result: Any) -> bytes:
    return encode_line(Response(id=request_id, result=result))


def encode_error(request_id: RequestId | None, error: errors.RpcError) -> bytes:
    return encode_line(
        ErrorResponse(
            id=request_id,
            error=ErrorObject(code=error.code, message=error.message, data=error.data()),
        )
    )
