"""Helpers shared by the tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "sidecar" / "fake_ollama" / "transcripts"


def transcript(name: str) -> bytes:
    """A byte-exact Ollama fixture transcript."""
    return (TRANSCRIPTS / name).read_bytes()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
