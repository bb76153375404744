"""Ollama's own API (`/api/chat` NDJSON, `/api/tags`, `/api/version`).

    client.py  `OllamaClient`, the `Provider` for `--provider ollama`
    wire.py    the `/api/chat` body and the Structs of Ollama's answers (pure)
    turn.py    `OllamaTurn`: NDJSON chunks -> notifications and result (pure)
    errors.py  how Ollama's failures read, and what its error statuses mean
"""
