"""The TypeScript wire types (ui/src/protocol.ts) match the msgspec Structs in sidecar/protocol.py.

Each `export interface` is compared with its Struct by field names and optionality. A TS field is
optional (`name?:`) exactly when the field can be missing on the wire:

- for the types the sidecar writes (and Message, which goes both ways), when msgspec may omit it:
  its default is UNSET, or the Struct has `omit_defaults` and the field has any default;
- for ChatParams, which the UI sends, when the field has a default (the sidecar fills it in).

The error codes (`ERROR_CODES`) are compared with sidecar/errors.py's KIND_BY_CODE.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from sidecar import errors, protocol

PROTOCOL_TS = Path(__file__).resolve().parent.parent / "ui" / "src" / "protocol.ts"

# TS interface -> the Struct of the same role.
WRITTEN = [
    "ReadyParams", "TokenParams", "ToolCallParams", "ToolResultNote", "Usage", "ChatResult",
    "ModelInfo", "Message", "ToolCall", "ToolCallFunction", "ErrorObject",
]
SENT = ["ChatParams"]

# Interfaces with no Struct counterpart: the sidecar builds these as plain dicts (status, error
# data) or they are TS-only bookkeeping. Listed so that a new interface cannot go unchecked.
NOT_STRUCTS = {"Status", "OllamaStatus", "ErrorData", "Notifications"}


def ts_source() -> str:
    # Line comments would confuse the field scan; protocol.ts has none inside interfaces today.
    return re.sub(r"//[^\n]*", "", PROTOCOL_TS.read_text(encoding="utf-8"))


def ts_interfaces() -> dict[str, dict[str, bool]]:
    """`export interface Name { field?: T; ... }` -> {Name: {field: optional}}."""
    interfaces: dict[str, dict[str, bool]] = {}
    for match in re.finditer(r"export interface (\w+) \{(.*?)\n\}", ts_source(), re.DOTALL):
        fields: dict[str, bool] = {}
        for line in match.group(2).splitlines():
            field = re.match(r'\s*"?([\w:]+)"?(\?)?\s*:', line)
            if field:  # skips index signatures (`[key: string]: unknown`) and blank lines
                fields[field.group(1)] = field.group(2) == "?"
        interfaces[match.group(1)] = fields
    return interfaces


def struct_fields(struct: type[msgspec.Struct], *, sent_by_ui: bool) -> dict[str, bool]:
    """{field: optional on the wire} for a Struct (see the module docstring for the rule)."""
    omit_defaults = struct.__struct_config__.omit_defaults
    fields: dict[str, bool] = {}
    for info in msgspec.structs.fields(struct):
        has_default = not info.required
        if sent_by_ui:
            optional = has_default
        else:
            optional = info.default is msgspec.UNSET or (omit_defaults and has_default)
        fields[info.encode_name] = optional
    return fields


def describe_difference(name: str, ts: dict[str, bool], py: dict[str, bool]) -> list[str]:
    where_ts = f"ui/src/protocol.ts interface {name}"
    where_py = f"sidecar/protocol.py {name}"
    problems = [f"field {f!r} is in {where_ts} but not in {where_py}" for f in ts if f not in py]
    problems += [f"field {f!r} is in {where_py} but not in {where_ts}" for f in py if f not in ts]
    for f in ts.keys() & py.keys():
        if ts[f] != py[f]:
            ts_says = "optional (`?`)" if ts[f] else "required"
            py_says = "can be missing on the wire" if py[f] else "is always present"
            problems.append(f"field {f!r} is {ts_says} in {where_ts}, but {py_says} in {where_py}")
    return sorted(problems)


@pytest.mark.parametrize("name", WRITTEN + SENT)
def test_interface_matches_struct(name: str) -> None:
    interfaces = ts_interfaces()
    assert name in interfaces, f"ui/src/protocol.ts has no `export interface {name}`"
    struct = getattr(protocol, name, None)
    assert isinstance(struct, type) and issubclass(struct, msgspec.Struct), (
        f"sidecar/protocol.py has no Struct {name}"
    )
    py_fields = struct_fields(struct, sent_by_ui=name in SENT)
    problems = describe_difference(name, interfaces[name], py_fields)
    assert not problems, "TS and Python wire types differ:\n  " + "\n  ".join(problems)


def test_every_interface_is_checked() -> None:
    unknown = set(ts_interfaces()) - set(WRITTEN) - set(SENT) - NOT_STRUCTS
    assert not unknown, (
        f"ui/src/protocol.ts has interfaces this test does not know: {sorted(unknown)}; "
        "add each to WRITTEN/SENT (compared with its Struct) or NOT_STRUCTS"
    )


def test_notifications_map_methods_to_param_types() -> None:
    assert ts_interfaces()["Notifications"] == {
        "sidecar:ready": False,
        "chat:token": False,
        "chat:thinking": False,
        "chat:tool_call": False,
        "chat:approval_request": False,
        "chat:tool_result": False,
    }


def test_error_codes_match_kind_by_code() -> None:
    block = re.search(r"export const ERROR_CODES = \{(.*?)\}", ts_source(), re.DOTALL)
    assert block, "ui/src/protocol.ts has no `export const ERROR_CODES = {...}`"
    ts_codes = {name: int(code) for name, code in re.findall(r"(\w+):\s*(-?\d+)", block.group(1))}
    py_codes = {kind: code for code, kind in errors.KIND_BY_CODE.items()}
    assert ts_codes == py_codes, (
        "ERROR_CODES in ui/src/protocol.ts differs from KIND_BY_CODE in sidecar/errors.py: "
        f"only in TS {sorted(ts_codes.items() - py_codes.items())}, "
        f"only in Python {sorted(py_codes.items() - ts_codes.items())}"
    )


def test_the_checker_notices_a_field_added_on_one_side() -> None:
    """The comparison itself: a field added to either side, or a changed `?`, is reported."""
    py = struct_fields(protocol.ReadyParams, sent_by_ui=False)
    ts = dict(py)
    assert describe_difference("ReadyParams", ts, py) == []
    assert describe_difference("ReadyParams", {**ts, "extra": False}, py) == [
        "field 'extra' is in ui/src/protocol.ts interface ReadyParams but not in "
        "sidecar/protocol.py ReadyParams"
    ]
    assert describe_difference("ReadyParams", ts, {**py, "extra": True}) == [
        "field 'extra' is in sidecar/protocol.py ReadyParams but not in "
        "ui/src/protocol.ts interface ReadyParams"
    ]
    assert describe_difference("ReadyParams", {**ts, "pid": True}, py) == [
        "field 'pid' is optional (`?`) in ui/src/protocol.ts interface ReadyParams, "
        "but is always present in sidecar/protocol.py ReadyParams"
    ]
