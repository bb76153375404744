"""Ollama's own API (`/api/chat` NDJSON, `/api/tags`, `/api/version`, the model lifecycle).

    client.py  `OllamaClient`, the `Provider` for `--provider ollama`
    wire.py    the `/api/chat` body and the Structs of Ollama's answers (pure)
    turn.py    `OllamaTurn`: NDJSON chunks -> notifications and result (pure)
    pull.py    `PullState`: `/api/pull` NDJSON -> summed, throttled progress (pure)
    errors.py  how Ollama's failures read, and what its error statuses mean
"""
