"""ollama-sidecar: a stdio JSON-RPC process that streams chat replies from Ollama."""

__version__ = "0.1.0"
