"""A scripted Ollama: a real HTTP/1.1 server on loopback that streams canned chat replies.

For the sidecar's own tests and for anyone testing a desktop shell without a GPU:

    async with open_scripted_ollama(scenario="text") as fake:
        ...  # point a client at fake.url, then inspect fake.records

Every scenario answers both on Ollama's `/api/chat` and on the OpenAI-compatible
`/v1/chat/completions` (as llama-server or Ollama would send it); `record.chat` gives a chat
request in one neutral shape whichever dialect carried it.

Run it standalone with `python -m sidecar_testkit.fake_ollama --list`. Scenarios live in `scenarios.py`,
the wire encoding in `wire.py` (NDJSON) and `openai_wire.py` + `openai_render.py` (SSE), the
translation of `/v1` requests in `openai_request.py`, the records in `record.py`, the server in
`server.py`.
"""

from sidecar_testkit.fake_ollama.openai_request import neutral_message, neutral_messages
from sidecar_testkit.fake_ollama.openai_wire import FLAVOURS
from sidecar_testkit.fake_ollama.scenarios import (
    ERROR_SCENARIOS,
    MULTIBYTE_TEXT,
    SCENARIOS,
    SEPARATORS_TEXT,
    Script,
    ScriptFactory,
    tool_request_text,
)
from sidecar_testkit.fake_ollama.server import (
    RequestRecord,
    ScriptedOllama,
    open_scripted_ollama,
)

__all__ = [
    "ERROR_SCENARIOS",
    "FLAVOURS",
    "MULTIBYTE_TEXT",
    "SCENARIOS",
    "SEPARATORS_TEXT",
    "RequestRecord",
    "Script",
    "ScriptFactory",
    "ScriptedOllama",
    "neutral_message",
    "neutral_messages",
    "open_scripted_ollama",
    "tool_request_text",
]
