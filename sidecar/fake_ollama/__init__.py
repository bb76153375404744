"""A scripted Ollama: a real HTTP/1.1 server on loopback that streams canned `/api/chat` replies.

For the sidecar's own tests and for anyone testing a desktop shell without a GPU:

    async with open_scripted_ollama(scenario="text") as fake:
        ...  # point a client at fake.url, then inspect fake.records

Run it standalone with `python -m sidecar.fake_ollama --list`. Scenarios live in `scenarios.py`,
the wire encoding in `wire.py`, the server in `server.py`.
"""

from sidecar.fake_ollama.scenarios import (
    ERROR_SCENARIOS,
    MULTIBYTE_TEXT,
    SCENARIOS,
    SEPARATORS_TEXT,
    Script,
    ScriptFactory,
    tool_request_text,
)
from sidecar.fake_ollama.server import RequestRecord, ScriptedOllama, open_scripted_ollama

__all__ = [
    "ERROR_SCENARIOS",
    "MULTIBYTE_TEXT",
    "SCENARIOS",
    "SEPARATORS_TEXT",
    "RequestRecord",
    "Script",
    "ScriptFactory",
    "ScriptedOllama",
    "open_scripted_ollama",
    "tool_request_text",
]
