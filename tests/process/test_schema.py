"""The published contract: `--print-schema`, docs/protocol.schema.json, `--version`, and the
`check_lines` validation every end-to-end test runs (docs/protocol.md, Schema and Compatibility).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import msgspec
import pytest
import trio

from sidecar.methods import METHODS
from sidecar.protocol import PROTOCOL_VERSION
from sidecar.schema import def_name, schema_json
from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.harness import Line, open_sidecar

from .e2e import GUARD_S, chat_params, check_lines, closed, line_problems

from ..support import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "docs" / "protocol.schema.json"
PROTOCOL_MD = REPO_ROOT / "docs" / "protocol.md"
REGENERATE = ".venv/bin/python -m sidecar --print-schema > docs/protocol.schema.json"


def run_sidecar(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args], capture_output=True, timeout=GUARD_S, check=False
    )


def test_print_schema_writes_the_schema_and_nothing_else() -> None:
    done = run_sidecar("--print-schema")
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == schema_json()
    assert done.stdout.endswith(b"}\n") and done.stdout.startswith(b'{\n  "$schema"')


def test_docs_schema_is_in_step_with_the_wire_types() -> None:
    assert SCHEMA_FILE.read_bytes() == schema_json(), (
        "docs/protocol.schema.json differs from what the wire types in sidecar/protocol.py "
        f"generate; regenerate it with `{REGENERATE}` (then `python3 ui/scripts/protocol-types.py` "
        "for ui/src/protocol.gen.ts), and check the diff against the compatibility promise in "
        "docs/protocol.md"
    )


def test_the_schema_is_a_valid_draft_2020_12_schema_of_this_protocol() -> None:
    schema = msgspec.json.decode(schema_json())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:ollama-sidecar:protocol:{PROTOCOL_VERSION}"
    assert schema["x-protocol"] == PROTOCOL_VERSION
    assert f"protocol {PROTOCOL_VERSION}" in schema["title"]


def test_the_schema_describes_every_method_of_the_method_table() -> None:
    defs = msgspec.json.decode(schema_json())["$defs"]
    assert set(defs["Request"]["discriminator"]["mapping"]) == set(METHODS)
    for name, method in METHODS.items():
        request = defs[def_name(name, "Request")]
        response = defs[def_name(name, "Response")]
        assert request["properties"]["method"] == {"enum": [name]}
        assert request["description"].startswith(method.doc)
        params = request["properties"]["params"]
        assert f"#/$defs/{method.params.__name__}" in msgspec.json.encode(params).decode()
        assert response["properties"]["result"] == {"$ref": f"#/$defs/{method.result.__name__}"}


def test_the_docs_have_a_section_for_every_method_of_the_method_table() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    requests = text.split("\n## 4. Requests\n", 1)[1].split("\n## 5. ", 1)[0]
    sections = re.findall(r"^### `([a-z_]+)`$", requests, re.MULTILINE)
    assert sorted(sections) == sorted(METHODS)


def test_version_prints_the_package_version_from_pyproject() -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    console_script = Path(sys.executable).parent / "ollama-sidecar"
    for command in ([str(console_script)], [sys.executable, "-m", "sidecar"]):
        done = subprocess.run(
            [*command, "--version"], capture_output=True, timeout=GUARD_S, check=False
        )
        assert (done.returncode, done.stdout, done.stderr) == (
            0, f"ollama-sidecar {version} (protocol {PROTOCOL_VERSION})\n".encode(), b""
        )
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "the version is MAJOR.MINOR.PATCH"


def test_the_docs_title_names_the_protocol_number() -> None:
    heading = PROTOCOL_MD.read_text(encoding="utf-8").splitlines()[0]
    assert heading == f"# ollama-sidecar wire protocol (protocol {PROTOCOL_VERSION})"


# --- the examples in docs/protocol.md ------------------------------------------------------------


def doc_blocks() -> list[tuple[str, list[str]]]:
    """(info string, lines) of every fenced block of docs/protocol.md."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    return [
        (info, body.splitlines())
        for info, body in re.findall(r"^```(\w*)\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    ]


def transcripts() -> list[list[str]]:
    return [lines for _, lines in doc_blocks() if lines and lines[0].startswith(("> ", "< "))]


def as_sidecar(written: list[Any], sent: dict[Any, list[Any]]) -> Any:
    """What check_lines reads from a SidecarProcess: its lines and the requests sent."""
    lines = [Line(value, msgspec.json.encode(value), 0.0) for value in written]
    return SimpleNamespace(lines=lines, sent=sent)


def test_the_docs_have_transcripts_and_json_examples() -> None:
    assert len(transcripts()) >= 3
    assert sum(info == "json" for info, _ in doc_blocks()) >= 2


@pytest.mark.parametrize("index", range(3))
def test_every_line_of_the_docs_transcripts_follows_the_schema(index: int) -> None:
    sent: dict[Any, list[Any]] = {}
    written = []
    requests = []
    for line in transcripts()[index]:
        direction, _, raw = line.partition(" ")
        if direction == ">":
            try:
                request = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue  # the transcript's deliberately broken line
            sent.setdefault(request["id"], []).append(request["method"])
            requests.append(request)
        else:
            written.append(msgspec.json.decode(raw))
    problems = [f"{v}: {p}" for v in written for p in line_problems(v, sent)]
    # A request the transcript answers with a result is a valid request.
    answered = {w["id"] for w in written if "result" in w}
    validator = jsonschema.Draft202012Validator(
        {**closed(msgspec.json.decode(schema_json())), "anyOf": [{"$ref": "#/$defs/Request"}]}
    )
    for request in requests:
        if request["id"] in answered:
            problems += [f"{request}: {e.message}" for e in validator.iter_errors(request)]
    assert not problems, "docs/protocol.md transcript:\n  " + "\n  ".join(problems)


def test_the_json_examples_in_the_docs_follow_the_schema() -> None:
    examples = [
        msgspec.json.decode(line) for info, lines in doc_blocks() if info == "json" for line in lines
    ]
    any_method = {example["id"]: list(METHODS) for example in examples if "id" in example}
    problems = [f"{e}: {p}" for e in examples for p in line_problems(e, any_method)]
    assert not problems, "docs/protocol.md examples:\n  " + "\n  ".join(problems)


# --- check_lines itself -------------------------------------------------------------------------


async def lines_of_a_real_session(fake: ScriptedOllama) -> tuple[list[Any], dict[Any, list[Any]]]:
    """Every line a real sidecar wrote for a chat, a status, a list_models and two bad lines."""
    with trio.fail_after(GUARD_S):
        async with open_sidecar("--ollama-url", fake.url) as sidecar:
            chat = await sidecar.request("chat", chat_params("text"))
            assert "result" in await sidecar.response(chat)
            for method in ("status", "list_models"):
                assert "result" in await sidecar.call(method)
            bad = await sidecar.request("chat", {"messages": []})
            assert "error" in await sidecar.response(bad)
            await sidecar.send_raw(b"{not json\n")
            await sidecar.wait_for(lambda line: line.value.get("id", 0) is None)
    check_lines(sidecar)  # what every e2e test does after its sidecar_for block
    return [line.value for line in sidecar.lines], sidecar.sent


def mutations(written: list[Any]) -> dict[str, tuple[list[Any], str]]:
    """Wrong variants of a correct session -> (lines, what check_lines must say)."""
    token = next(i for i, v in enumerate(written) if v.get("method") == "chat:token")
    chat_result = next(i for i, v in enumerate(written) if "done_reason" in v.get("result", {}))
    status = next(i for i, v in enumerate(written) if "ollama" in v.get("result", {}))
    error = next(i for i, v in enumerate(written) if "error" in v and v["id"] is not None)

    def changed(index: int, change: Any) -> list[Any]:
        copy = msgspec.json.decode(msgspec.json.encode(written))
        change(copy[index])
        return copy

    return {
        "a field missing": (
            changed(token, lambda v: v["params"].pop("content")), "'content' is a required property"
        ),
        "a field the schema does not name": (
            changed(status, lambda v: v["result"].update(extra=1)), "'extra' was unexpected"
        ),
        "a field of the wrong type": (
            changed(chat_result, lambda v: v["result"]["usage"].update(duration_ms="1")),
            "$.result.usage.duration_ms: '1' is not of type 'integer'",
        ),
        "an unknown notification": (
            changed(token, lambda v: v.update(method="chat:tokens")),
            "unknown notification method 'chat:tokens'",
        ),
        "a response to an id never sent": (
            changed(status, lambda v: v.update(id=99)), "a response to id 99, which no request had"
        ),
        "the result of another method": (
            changed(status, lambda v: v.update(result={"models": []})),
            "as a status response: $.result: 'version' is a required property",
        ),
        "an error for an id never sent": (
            changed(error, lambda v: v.update(id="x")), "an error for id 'x', which no request had"
        ),
        "an error kind that is not its code's": (
            changed(error, lambda v: v["error"]["data"].update(kind="busy")),
            "error code -32602 with kind 'busy'",
        ),
        "a chat_id of no chat": (
            changed(token, lambda v: v["params"].update(chat_id=42)),
            "chat_id 42 is not the id of a chat request sent",
        ),
        "a protocol number of another protocol": (
            changed(0, lambda v: v["params"].update(protocol=PROTOCOL_VERSION + 1)),
            f"$.params.protocol: {PROTOCOL_VERSION + 1} is greater than the maximum",
        ),
        "not the ready line first": (written[1:], "the first line is not sidecar:ready"),
    }


async def test_check_lines_passes_a_real_session_and_fails_each_wrong_line(
    fake_ollama: ScriptedOllama,
) -> None:
    written, sent = await lines_of_a_real_session(fake_ollama)
    check_lines(as_sidecar(written, sent))
    for name, (wrong, message) in mutations(written).items():
        with pytest.raises(AssertionError) as failure:
            check_lines(as_sidecar(wrong, sent))
        assert message in str(failure.value), f"{name}: {failure.value}"
