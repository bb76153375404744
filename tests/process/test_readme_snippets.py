"""The README's embedding snippets do what the tested examples do (issue 11, item 7).

The Electron / Node snippet runs as written (Node, a real sidecar, the scripted Ollama): it waits
for `sidecar:ready` before writing and passes `--parent-pid`. The Tauri snippet cannot run here
(no Tauri runtime), so it is checked against the example's own capability: it spawns the binary
with exactly the arguments `capabilities/default.json` allows, and writes only after the ready
line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from ..support import REPO_ROOT
from .e2e import GUARD_S

REPO = REPO_ROOT
CAPABILITY = REPO / "examples" / "tauri" / "src-tauri" / "capabilities" / "default.json"


# Prepended to the snippet: counts the stdin writes made before the ready line was read (its
# stdout listener is registered first, so it sees the ready line before the snippet's own).
WATCH_WRITES = """
const childProcess = require("node:child_process");
const realSpawn = childProcess.spawn;
let readySeen = false;
let earlyWrites = 0;
childProcess.spawn = (...args) => {
  const child = realSpawn(...args);
  child.stdout.on("data", (chunk) => { if (chunk.includes("sidecar:ready")) readySeen = true; });
  const write = child.stdin.write.bind(child.stdin);
  child.stdin.write = (...data) => { if (!readySeen) earlyWrites += 1; return write(...data); };
  return child;
};
process.on("exit", () => console.log(JSON.stringify({ early_writes: earlyWrites })));
"""


def snippet(language: str, after: str) -> str:
    """The first ```language block of the README after the line starting with `after`."""
    text = (REPO / "README.md").read_text()
    start = text.index("\n" + after)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.DOTALL)
    assert match is not None, f"no {language} block after {after!r}"
    return match.group(1)


def test_the_tauri_snippet_spawns_what_the_capability_allows_and_waits_for_ready() -> None:
    code = snippet("ts", "Tauri (v2")
    # The README's snippet uses the first shape; the second adds --mcp-config (the example's MCP
    # servers file), which the snippet does not pass.
    allowed, _with_mcp = [
        rule
        for permission in json.loads(CAPABILITY.read_text())["permissions"]
        if isinstance(permission, dict) and permission["identifier"] == "shell:allow-spawn"
        for rule in permission["allow"]
    ]
    spawn = re.search(r'Command\.sidecar\("([^"]+)", \[(.*?)\]\)', code)
    assert spawn is not None
    assert spawn.group(1) == allowed["name"]
    args = [a.strip() for a in spawn.group(2).split(",")]
    assert len(args) == len(allowed["args"])
    for given, rule in zip(args, allowed["args"]):
        if isinstance(rule, str):
            assert given == json.dumps(rule), f"{given} where the capability allows only {rule!r}"
        else:  # a validator: the snippet passes the app's pid
            assert given == "String(pid)"
    assert code.index("await isReady") < code.index("child.write(")
    assert "sidecar:ready" in code


async def test_the_electron_snippet_runs_against_a_real_sidecar(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    code = snippet("js", "Electron / Node")
    assert '"--parent-pid", String(process.pid)' in code
    # Run it as written, with the sidecar from this checkout and the scripted Ollama.
    program = code.replace(
        'spawn("ollama-sidecar", [',
        f'spawn({json.dumps(sys.executable)}, ["-m", "sidecar", "--ollama-url", {json.dumps(fake_ollama.url)}, ',
    )
    program = program.replace('model: "llama3.2"', 'model: "text"')
    handle = (
        "function handle(message) {\n"
        "  console.log(JSON.stringify(message));\n"
        '  if (message.id === 1) sidecar.stdin.end();\n'
        "}\n"
    )
    script = tmp_path / "snippet.js"
    script.write_text(WATCH_WRITES + handle + program)
    with trio.fail_after(GUARD_S):
        done = await trio.run_process(
            ["node", str(script)], cwd=REPO, capture_stdout=True, capture_stderr=True, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    answer = next(line for line in lines if line.get("id") == 1)
    assert answer["result"]["done_reason"] == "stop"
    text = "".join(l["params"]["content"] for l in lines if l.get("method") == "chat:token")
    assert text and answer["result"]["messages"][-1]["content"] == text
    assert {"early_writes": 0} in lines, "the snippet wrote to stdin before sidecar:ready"
