"""Helpers for tests that spawn the real sidecar against the scripted Ollama on loopback.

`sidecar_for` starts the sidecar the way the current variant says (see conftest.py): each
variant maps the scripted upstream to the command-line arguments that select a provider or a
stdio path, so one test body checks every way the sidecar can run. After the test body, every
line the sidecar wrote is checked by `check_lines`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Final

import jsonschema
import msgspec

from sidecar.errors import KIND_BY_CODE
from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.harness import SidecarProcess, open_sidecar
from sidecar.schema import schema_json

from ..support import GUARD_S, chat_params, user

__all__ = ["GUARD_S", "chat_params"]  # the e2e tests take them from here with the rest
TEXT_REPLY: Final = "The sky looks blue because air scatters blue & violet light more."


def _ollama(fake: ScriptedOllama) -> list[str]:
    return ["--ollama-url", fake.url]


def _openai(fake: ScriptedOllama) -> list[str]:
    return ["--provider", "openai", "--base-url", fake.url + "/v1"]


# name -> the arguments that point the sidecar at the scripted upstream in that variant.
E2E_VARIANTS: Final[dict[str, Callable[[ScriptedOllama], list[str]]]] = {
    "ollama": _ollama,
    "openai": _openai,
    # Blocking stdin/stdout in worker threads: the path platforms without non-blocking pipes take.
    "threads": lambda fake: ["--ollama-url", fake.url, "--stdio", "threads"],
}
CURRENT_VARIANT: ContextVar[str] = ContextVar("e2e_variant", default="ollama")


def variant() -> str:
    return CURRENT_VARIANT.get()


def closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to other keys.

    The published schema is open (clients ignore unknown fields); the sidecar itself must write
    nothing the schema does not name, so the tests check against the closed form.
    """
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: closed(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class OutputSchemas:
    """Validators for what the sidecar writes, built once from `schema_json()`.

    Found the way a client would: notifications by the `method` discriminator of
    `$defs/Notification`, and each method's success response as `<M>Response` next to the
    `<M>Request` of `$defs/Request`.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        schema = closed(schema)
        defs = schema["$defs"]

        def validator(name: str) -> jsonschema.Draft202012Validator:
            return jsonschema.Draft202012Validator(
                {"$schema": schema["$schema"], "$defs": defs, "$ref": f"#/$defs/{name}"}
            )

        def by_method(union: str) -> dict[str, str]:
            mapping = defs[union]["discriminator"]["mapping"]
            return {method: ref.rpartition("/")[2] for method, ref in mapping.items()}

        self.notifications = {m: validator(n) for m, n in by_method("Notification").items()}
        self.results = {
            m: validator(n.removesuffix("Request") + "Response")
            for m, n in by_method("Request").items()
        }
        self.error = validator("ErrorResponse")


@functools.cache
def output_schemas() -> OutputSchemas:
    return OutputSchemas(msgspec.json.decode(schema_json()))


def _violations(validator: jsonschema.Draft202012Validator, value: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(value)]


def line_problems(value: Any, sent: dict[int | str, list[Any]]) -> list[str]:
    """What is wrong with one line the sidecar wrote, given the requests sent (id -> methods)."""
    schemas = output_schemas()
    if not isinstance(value, dict):
        return ["not a JSON object"]
    request_id = value.get("id")
    known_id = type(request_id) in (int, str) and request_id in sent
    if "method" in value:
        validator = schemas.notifications.get(value["method"])
        if validator is None:
            return [f"unknown notification method {value['method']!r}"]
        problems = _violations(validator, value)
        params = value.get("params")
        if not problems and isinstance(params, dict) and "chat_id" in params:
            chat_id = params["chat_id"]
            if chat_id is not None and "chat" not in sent.get(chat_id, []):
                problems.append(f"chat_id {chat_id!r} is not the id of a chat request sent")
        return problems
    if "error" in value:
        problems = _violations(schemas.error, value)
        if not problems:
            if request_id is not None and not known_id:
                problems.append(f"an error for id {request_id!r}, which no request had")
            code, kind = value["error"]["code"], value["error"]["data"]["kind"]
            if KIND_BY_CODE.get(code) != kind:
                problems.append(f"error code {code} with kind {kind!r} (errors.KIND_BY_CODE)")
        return problems
    if not known_id:
        return [f"a response to id {request_id!r}, which no request had"]
    methods = sorted({m for m in sent[request_id] if isinstance(m, str)})
    candidates = [(m, schemas.results[m]) for m in methods if m in schemas.results]
    if not candidates:
        return [f"a result for id {request_id!r}, whose requests had no known method: {methods}"]
    problems = []
    for method, validator in candidates:
        found = _violations(validator, value)
        if not found:
            return []
        problems += [f"as a {method} response: {p}" for p in found]
    return problems


def check_lines(sidecar: SidecarProcess) -> None:
    """Checks every line the sidecar wrote (called when `sidecar_for` ends) against the protocol
    schema: the first is `sidecar:ready`, each notification matches its method's schema, each
    response the result schema of the method of the request with that id, or the error schema."""
    problems = []
    for number, line in enumerate(sidecar.lines, 1):
        found = line_problems(line.value, sidecar.sent)
        if number == 1 and line.method != "sidecar:ready":
            found.insert(0, "the first line is not sidecar:ready")
        problems += [f"stdout line {number} {line.raw[:200]!r}: {p}" for p in found]
    assert not problems, (
        f"{len(problems)} problems with what the sidecar wrote (schema: docs/protocol.schema.json):\n  "
        + "\n  ".join(problems[:20])
    )


@asynccontextmanager
async def checked_sidecar(*args: str, **kwargs: Any) -> AsyncIterator[SidecarProcess]:
    """`open_sidecar`, then `check_lines` on everything it wrote: what every e2e test uses."""
    async with open_sidecar(*args, **kwargs) as sidecar:
        yield sidecar
    check_lines(sidecar)


@asynccontextmanager
async def sidecar_for(fake: ScriptedOllama, *args: str, **kwargs: Any) -> AsyncIterator[SidecarProcess]:
    """A checked sidecar pointed at `fake` the way the current variant says."""
    upstream = E2E_VARIANTS[variant()](fake)
    async with checked_sidecar(*upstream, *args, **kwargs) as sidecar:
        yield sidecar

