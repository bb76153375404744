#!/usr/bin/env python3
"""Writes ui/src/protocol.gen.ts, the TypeScript types of the protocol, from its JSON Schema.

    python3 ui/scripts/protocol-types.py [SCHEMA] [OUT]
    (defaults: docs/protocol.schema.json and ui/src/protocol.gen.ts; `npm run protocol-types` in ui/)

The schema is the one `ollama-sidecar --print-schema` writes. Every object in `$defs` becomes an
`export interface` (a field is optional exactly when the schema does not list it as required),
every union an `export type`, and two maps are derived from the unions: `Notifications`
(notification method -> params) and `Methods` (method -> params and result). Only the keywords
msgspec emits are understood; anything else stops the generator rather than being guessed at.
Standard library only: no sidecar import, no npm package.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

UI = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = UI.parent / "docs" / "protocol.schema.json"
DEFAULT_OUT = UI / "src" / "protocol.gen.ts"

# Keywords that carry no type information for TypeScript (constraints, docs, OpenAPI's hint).
IGNORED = {
    "title", "description", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "format",
    "discriminator", "examples",
}
SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
           "null": "null"}
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")


def ref_name(ref: str) -> str:
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref.removeprefix("#/$defs/")


def literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def ts_type(schema: dict[str, Any]) -> str:
    unknown = set(schema) - IGNORED - {"$ref", "anyOf", "enum", "const", "type", "items",
                                       "properties", "required"}
    if unknown:
        raise ValueError(f"unsupported keywords {sorted(unknown)} in {schema}")
    if "$ref" in schema:
        return ref_name(schema["$ref"])
    if "anyOf" in schema:
        return union(ts_type(member) for member in schema["anyOf"])
    if "enum" in schema:
        return union(literal(value) for value in schema["enum"])
    if "const" in schema:
        return literal(schema["const"])
    kind = schema.get("type")
    if kind in SCALARS:
        return SCALARS[kind]
    if kind == "array":
        item = ts_type(schema.get("items", {}))
        return f"({item})[]" if len(top_level_parts(item)) > 1 else f"{item}[]"
    if kind == "object":
        if "properties" in schema:
            raise ValueError(f"inline object with properties (expected a $ref): {schema}")
        return "Record<string, unknown>"
    if not schema or set(schema) <= IGNORED:
        return "unknown"
    raise ValueError(f"unsupported schema {schema}")


def union(members: Any) -> str:
    seen: list[str] = []
    for member in members:
        for part in top_level_parts(member):
            if part not in seen:  # integer and number are both `number`
                seen.append(part)
    return " | ".join(seen)


def top_level_parts(type_text: str) -> list[str]:
    """`A | (B | C)[] | Record<K, V>` -> the three members, split outside brackets only."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(type_text):
        if char in "(<{[":
            depth += 1
        elif char in ")>}]":
            depth -= 1
        elif depth == 0 and type_text.startswith(" | ", i):
            parts.append(type_text[start:i])
            start = i + 3
    return [*parts, type_text[start:]]


def key(name: str) -> str:
    return name if IDENTIFIER.fullmatch(name) else literal(name)


def doc(text: str | None, indent: str = "") -> list[str]:
    if not text:
        return []
    lines = text.replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def declaration(name: str, schema: dict[str, Any]) -> list[str]:
    if schema.get("type") == "object" and "properties" in schema:
        required = set(schema.get("required", []))
        out = [*doc(schema.get("description")), f"export interface {name} {{"]
        for field, field_schema in schema["properties"].items():
            optional = "" if field in required else "?"
            out += doc(field_schema.get("description"), "  ")
            out.append(f"  {key(field)}{optional}: {ts_type(field_schema)};")
        return [*out, "}"]
    return [*doc(schema.get("description")), f"export type {name} = {ts_type(schema)};"]


def tag(defs: dict[str, Any], name: str) -> str:
    (method,) = defs[name]["properties"]["method"]["enum"]
    return method


def maps(defs: dict[str, Any]) -> list[str]:
    out = ["/** Notification method -> params. */", "export interface Notifications {"]
    for member in defs["Notification"]["anyOf"]:
        name = ref_name(member["$ref"])
        out.append(f"  {key(tag(defs, name))}: {ts_type(defs[name]['properties']['params'])};")
    out += ["}", "", "/** Method -> its params and the result of a success response. */",
            "export interface Methods {"]
    for member in defs["Request"]["anyOf"]:
        name = ref_name(member["$ref"])
        response = defs[name.removesuffix("Request") + "Response"]
        params = ts_type(defs[name]["properties"]["params"])
        result = ts_type(response["properties"]["result"])
        out.append(f"  {key(tag(defs, name))}: {{ params: {params}; result: {result} }};")
    return [*out, "}"]


def generate(schema: dict[str, Any]) -> str:
    defs = schema["$defs"]
    out = [
        f"// {schema['title']}: TypeScript types generated from its JSON Schema ({schema['$id']}).",
        "// Do not edit. Regenerate after changing sidecar/protocol.py:",
        "//   .venv/bin/python -m sidecar --print-schema > docs/protocol.schema.json",
        "//   python3 ui/scripts/protocol-types.py",
        "",
        f"export const PROTOCOL = {literal(schema['x-protocol'])};",
    ]
    for name, definition in defs.items():
        out += ["", *declaration(name, definition)]
    out += ["", *maps(defs)]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    schema_path = Path(argv[0]) if argv else DEFAULT_SCHEMA
    out_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    text = generate(json.loads(schema_path.read_text(encoding="utf-8")))
    out_path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
