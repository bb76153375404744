"""The JSON Schema of protocol 1, generated from the msgspec wire types (`--print-schema`).

Nothing here describes a field by hand. The params, results and notification params are the
Structs of `protocol.py`; the JSON-RPC envelopes around them are Structs made here with
`msgspec.defstruct` from two tables (the method table of `methods.py`: method -> params, result
and doc; and `NOTIFICATIONS` here: notification -> params), and
`msgspec.json.schema_components` turns the lot into `$defs`. Two rules are applied on top:

- **Required means "always there".** msgspec marks a field required when a decoder needs it. For
  the types the sidecar writes (everything reachable from a notification or a response, Message
  included) a field is required when the encoder always writes it: any field without a default,
  and a defaulted field unless the default is UNSET or the Struct omits defaults. Types that are
  only read (the params of requests) keep msgspec's rule: required when the sidecar needs it.
- Struct docstrings become descriptions, de-indented.

Objects stay open (no `additionalProperties: false`): a client must ignore fields it does not
know (docs/protocol.md, Compatibility). The end-to-end tests close them before validating, so
the sidecar itself never writes a field the schema does not name.

`$defs` naming, which tests/process/e2e.py and ui/scripts/protocol-types.py rely on: `<Method>Request`
and `<Method>Response` per method (`cancel_chat` -> `CancelChatRequest`), `<Method>Notification`
per notification (`chat:tool_call` -> `ChatToolCallNotification`), `ErrorResponse`, and the
unions `Request`, `Notification` and `Response`.
"""

from __future__ import annotations

import inspect
from typing import Any, Final, Literal, Union, get_args

import msgspec
from msgspec import UNSET, Struct, UnsetType

from .methods import METHODS
from .protocol import (
    McpServerStatusParams,
    PROTOCOL_VERSION,
    ErrorObject,
    PullProgressParams,
    ReadyParams,
    RequestId,
    TokenParams,
    ToolCallParams,
    ToolResultNote,
)

SCHEMA_ID: Final = f"urn:ollama-sidecar:protocol:{PROTOCOL_VERSION}"
_REF: Final = "#/$defs/{name}"

# notification method -> (params, when it is written)
NOTIFICATIONS: Final[dict[str, tuple[type[Struct], str]]] = {
    "sidecar:ready": (ReadyParams, "Always the first line the sidecar writes."),
    "chat:token": (TokenParams, "A delta of the assistant's text."),
    "chat:thinking": (TokenParams, "A delta of the assistant's thinking."),
    "chat:tool_call": (ToolCallParams, "A tool call of the model."),
    "chat:approval_request": (
        ToolCallParams,
        "A call of write_file, exec_shell or an MCP tool (unless its server's autoApprove names "
        "it) waits for approve_tool.",
    ),
    "chat:tool_result": (ToolResultNote, "A tool call has run, or was answered."),
    "model:pull_progress": (
        PullProgressParams, "Progress of a pull_model (request_id = its id), bytes over all layers.",
    ),
    "mcp:server_status": (
        McpServerStatusParams, "An MCP server's state changed (starting, ready, failed, stopped).",
    ),
}


def def_name(method: str, suffix: str) -> str:
    """`cancel_chat`, "Request" -> `CancelChatRequest`; `chat:tool_call` -> `ChatToolCall...`."""
    words = method.replace(":", "_").split("_")
    return "".join(word[:1].upper() + word[1:] for word in words) + suffix


def _envelope(name: str, doc: str, fields: list[Any], **options: Any) -> type[Struct]:
    struct = msgspec.defstruct(name, fields, kw_only=True, module=__name__, **options)
    struct.__doc__ = doc
    return struct


def _request(method: str, params: type[Struct], doc: str) -> type[Struct]:
    params_needed = any(f.required for f in msgspec.structs.fields(params))
    params_field = (
        ("params", params) if params_needed else ("params", params | UnsetType, UNSET)
    )
    return _envelope(
        def_name(method, "Request"),
        f"{doc} Without an id it is a notification: it runs and is never answered.",
        [
            ("jsonrpc", Literal["2.0"] | UnsetType, UNSET),
            ("id", RequestId | UnsetType, UNSET),
            params_field,
        ],
        tag_field="method",
        tag=method,
    )


def _response(method: str, result: type[Struct]) -> type[Struct]:
    return _envelope(
        def_name(method, "Response"),
        f"The success response to {method}; `id` is the request's.",
        [("jsonrpc", Literal["2.0"]), ("id", RequestId), ("result", result)],
    )


def _notification(method: str, params: type[Struct], doc: str) -> type[Struct]:
    return _envelope(
        def_name(method, "Notification"),
        doc,
        [("jsonrpc", Literal["2.0"]), ("params", params)],
        tag_field="method",
        tag=method,
    )


ERROR_RESPONSE: Final = _envelope(
    "ErrorResponse",
    "The answer to a request that failed; `id` is null when the line's id could not be read.",
    [("jsonrpc", Literal["2.0"]), ("id", RequestId | None), ("error", ErrorObject)],
)
REQUESTS: Final = {name: _request(name, m.params, m.doc) for name, m in METHODS.items()}
RESPONSES: Final = {name: _response(name, m.result) for name, m in METHODS.items()}
NOTIFICATION_ENVELOPES: Final = {
    m: _notification(m, params, doc) for m, (params, doc) in NOTIFICATIONS.items()
}


def envelope_types() -> dict[str, type[Struct]]:
    """Every Struct made here, by its `$defs` name."""
    structs = [*REQUESTS.values(), *RESPONSES.values(), *NOTIFICATION_ENVELOPES.values()]
    return {s.__name__: s for s in [*structs, ERROR_RESPONSE]}


def _union(*names: str) -> type:
    return Union[tuple(envelope_types()[n] for n in names)]  # noqa: UP007 (a runtime union)


def wire_structs() -> dict[str, type[Struct]]:
    """Every Struct in the schema, by name (the envelopes and all they reach)."""
    found: dict[str, type[Struct]] = {}

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, Struct):
            if found.get(tp.__name__) is tp:
                return
            assert tp.__name__ not in found, f"two wire Structs are named {tp.__name__}"
            found[tp.__name__] = tp
            for field in msgspec.structs.fields(tp):
                walk(field.type)
        for arg in get_args(tp):
            walk(arg)

    for struct in envelope_types().values():
        walk(struct)
    return found


def always_written(struct: type[Struct]) -> list[str]:
    """The fields msgspec's encoder writes on every instance of `struct`."""
    omit_defaults = struct.__struct_config__.omit_defaults
    tag_field = struct.__struct_config__.tag_field
    names = [tag_field] if tag_field else []
    for field in msgspec.structs.fields(struct):
        if field.required or not (field.default is UNSET or omit_defaults):
            names.append(field.encode_name)
    return names


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rpartition("/")[2]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node))
    return set()


def _reachable(roots: list[str], defs: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(defs[name]))
    return seen


_ENVELOPE_ORDER: Final = ("jsonrpc", "id", "method", "params", "result", "error")


def _in_envelope_order(fields: Any) -> Any:
    ordered = sorted(fields, key=_ENVELOPE_ORDER.index)
    return {k: fields[k] for k in ordered} if isinstance(fields, dict) else ordered


def build_schema() -> dict[str, Any]:
    unions = {
        "Request": _union(*(def_name(m, "Request") for m in METHODS)),
        "Notification": _union(*(def_name(m, "Notification") for m in NOTIFICATIONS)),
    }
    singles = [*RESPONSES.values(), ERROR_RESPONSE]
    union_schemas, defs = msgspec.json.schema_components(
        [*unions.values(), *singles], ref_template=_REF
    )
    structs = wire_structs()
    envelopes = envelope_types()
    written_roots = [s.__name__ for s in singles] + [
        def_name(m, "Notification") for m in NOTIFICATIONS
    ]
    for name in _reachable(written_roots, defs):
        schema = defs[name]
        required = always_written(structs[name])
        schema["required"] = [p for p in schema["properties"] if p in required]
    for name, schema in defs.items():
        if "description" in schema:
            schema["description"] = inspect.cleandoc(schema["description"])
        if name in envelopes:  # the tag field first is msgspec's order; JSON-RPC's reads better
            for key in ("properties", "required"):
                schema[key] = _in_envelope_order(schema[key])
    defs.update(zip(unions, union_schemas))
    defs["Response"] = {
        "description": "A response: the result of one of the methods, or an error.",
        "anyOf": [{"$ref": _REF.format(name=s.__name__)} for s in singles],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"ollama-sidecar protocol {PROTOCOL_VERSION}",
        "description": (
            f"Every line of protocol {PROTOCOL_VERSION} of ollama-sidecar (docs/protocol.md): "
            "the requests a host writes to stdin, the notifications and responses the sidecar "
            "writes to stdout. Per method M: $defs/<M>Request and $defs/<M>Response (a success; "
            "a failure is an ErrorResponse); per notification N: $defs/<N>Notification. Objects "
            "are open: ignore fields you do not know."
        ),
        "x-protocol": PROTOCOL_VERSION,
        "anyOf": [{"$ref": _REF.format(name=name)} for name in ("Request", "Notification", "Response")],
        "$defs": dict(sorted(defs.items())),
    }


def schema_json() -> bytes:
    """The schema as pretty-printed JSON ending in a newline; the same bytes on every call."""
    return msgspec.json.format(msgspec.json.encode(build_schema()), indent=2) + b"\n"
