"""ui/'s TypeScript wire types come from the protocol's JSON Schema, and match the msgspec Structs.

The chain is sidecar/protocol.py (Structs) -> `--print-schema` (sidecar/schema.py) ->
ui/scripts/protocol-types.py -> ui/src/protocol.gen.ts, re-exported by ui/src/protocol.ts under
the names the rest of ui/ imports (`tsc` in scripts/ui-test checks those). This module checks that
the generated file is in step with the schema, and, independently of the schema's own rules, that
each generated interface has exactly the fields of its Struct. A TS field is optional (`name?:`)
exactly when the field can be missing on the wire:

- for the types the sidecar writes (and those it both reads and writes, such as Message), when
  msgspec may omit it: its default is UNSET, or the Struct has `omit_defaults` and the field has
  any default;
- for the types only a client writes (requests and their params), when the field has a default.

The error codes (`ERROR_CODES` in protocol.ts) are compared with sidecar/errors.py's KIND_BY_CODE.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import msgspec
import pytest

from sidecar import errors, schema
from sidecar.methods import METHODS

from ..support import REPO_ROOT

UI = REPO_ROOT / "ui"
PROTOCOL_TS = UI / "src" / "protocol.ts"
PROTOCOL_GEN_TS = UI / "src" / "protocol.gen.ts"
GENERATOR = UI / "scripts" / "protocol-types.py"

# Generated maps derived from the unions, not from one Struct.
MAPS = {"Notifications", "Methods"}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protocol_types", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_comments(source: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.DOTALL)


def ts_interfaces(source: str) -> dict[str, dict[str, bool]]:
    """`export interface Name { field?: T; ... }` -> {Name: {field: optional}}."""
    interfaces: dict[str, dict[str, bool]] = {}
    for match in re.finditer(r"export interface (\w+) \{(.*?)\n\}", without_comments(source), re.DOTALL):
        fields: dict[str, bool] = {}
        for line in match.group(2).splitlines():
            field = re.match(r'\s*"?([\w:]+)"?(\?)?\s*:', line)
            if field:
                fields[field.group(1)] = field.group(2) == "?"
        interfaces[match.group(1)] = fields
    return interfaces


def reachable(roots: list[type]) -> set[type]:
    """The Structs reachable from `roots` through field annotations."""
    found: set[type] = set()

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            if tp in found:
                return
            found.add(tp)
            for info in msgspec.structs.fields(tp):
                walk(info.type)
        for arg in get_args(tp):
            walk(arg)

    for root in roots:
        walk(root)
    return found


def written_by_sidecar() -> set[type]:
    outputs = [*schema.RESPONSES.values(), *schema.NOTIFICATION_ENVELOPES.values()]
    return reachable([*outputs, schema.ERROR_RESPONSE])


def struct_fields(struct: type[msgspec.Struct], *, sent_by_client: bool) -> dict[str, bool]:
    """{field: optional on the wire} for a Struct (see the module docstring for the rule)."""
    config = struct.__struct_config__
    fields: dict[str, bool] = {config.tag_field: False} if config.tag_field else {}
    for info in msgspec.structs.fields(struct):
        has_default = not info.required
        if sent_by_client:
            optional = has_default
        else:
            optional = info.default is msgspec.UNSET or (config.omit_defaults and has_default)
        fields[info.encode_name] = optional
    return fields


def describe_difference(name: str, ts: dict[str, bool], py: dict[str, bool]) -> list[str]:
    where_ts = f"ui/src/protocol.gen.ts interface {name}"
    where_py = f"Struct {name}"
    problems = [f"field {f!r} is in {where_ts} but not in {where_py}" for f in ts if f not in py]
    problems += [f"field {f!r} is in {where_py} but not in {where_ts}" for f in py if f not in ts]
    for f in ts.keys() & py.keys():
        if ts[f] != py[f]:
            ts_says = "optional (`?`)" if ts[f] else "required"
            py_says = "can be missing on the wire" if py[f] else "is always present"
            problems.append(f"field {f!r} is {ts_says} in {where_ts}, but {py_says} in {where_py}")
    return sorted(problems)


def test_protocol_gen_ts_is_in_step_with_the_schema() -> None:
    expected = generator().generate(msgspec.json.decode(schema.schema_json()))
    assert PROTOCOL_GEN_TS.read_text(encoding="utf-8") == expected, (
        "ui/src/protocol.gen.ts differs from what the protocol's schema generates; regenerate: "
        "`.venv/bin/python -m sidecar --print-schema > docs/protocol.schema.json && "
        "python3 ui/scripts/protocol-types.py`"
    )


def test_every_generated_interface_has_the_fields_of_its_struct() -> None:
    structs = schema.wire_structs()
    written = written_by_sidecar()
    interfaces = ts_interfaces(PROTOCOL_GEN_TS.read_text(encoding="utf-8"))
    assert set(interfaces) - MAPS == set(structs), "one interface per wire Struct"
    problems = []
    for name, ts_fields in interfaces.items():
        if name in MAPS:
            continue
        struct = structs[name]
        py_fields = struct_fields(struct, sent_by_client=struct not in written)
        problems += describe_difference(name, ts_fields, py_fields)
    assert not problems, "TS and Python wire types differ:\n  " + "\n  ".join(problems)


def test_the_maps_name_every_notification_and_method() -> None:
    interfaces = ts_interfaces(PROTOCOL_GEN_TS.read_text(encoding="utf-8"))
    assert interfaces["Notifications"] == dict.fromkeys(schema.NOTIFICATIONS, False)
    assert interfaces["Methods"] == dict.fromkeys(METHODS, False)


def test_protocol_ts_defines_no_wire_type_of_its_own() -> None:
    source = without_comments(PROTOCOL_TS.read_text(encoding="utf-8"))
    assert 'export * from "./protocol.gen";' in source
    assert not re.search(r"export interface", source), (
        "ui/src/protocol.ts must take its wire types from protocol.gen.ts (generated from the schema)"
    )


def test_error_codes_match_kind_by_code() -> None:
    source = without_comments(PROTOCOL_TS.read_text(encoding="utf-8"))
    block = re.search(r"export const ERROR_CODES = \{(.*?)\}", source, re.DOTALL)
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
    py = struct_fields(schema.wire_structs()["ReadyParams"], sent_by_client=False)
    ts = dict(py)
    assert describe_difference("ReadyParams", ts, py) == []
    assert describe_difference("ReadyParams", {**ts, "extra": False}, py) == [
        (
            "field 'extra' is in ui/src/protocol.gen.ts interface ReadyParams but not in "
            "Struct ReadyParams"
        )
    ]
    assert describe_difference("ReadyParams", ts, {**py, "extra": True}) == [
        (
            "field 'extra' is in Struct ReadyParams but not in "
            "ui/src/protocol.gen.ts interface ReadyParams"
        )
    ]
    assert describe_difference("ReadyParams", {**ts, "pid": True}, py) == [
        (
            "field 'pid' is optional (`?`) in ui/src/protocol.gen.ts interface ReadyParams, "
            "but is always present in Struct ReadyParams"
        )
    ]


@pytest.mark.parametrize(
    ("schema_part", "typescript"),
    [
        ({"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]}, "number | null"),
        (
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/X"}]}},
            "(string | X)[]",
        ),
        ({"enum": ["a", "b"]}, '"a" | "b"'),
        ({"type": "object"}, "Record<string, unknown>"),
    ],
)
def test_the_generator_maps_schema_to_typescript(schema_part: dict[str, Any], typescript: str) -> None:
    assert generator().ts_type(schema_part) == typescript


def test_the_generator_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(ValueError, match="patternProperties"):
        generator().ts_type({"type": "object", "patternProperties": {"^x": {}}})
