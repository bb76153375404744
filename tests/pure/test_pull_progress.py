"""`PullState` (providers/ollama/pull.py): Ollama's per-layer pull lines summed, clamped and
throttled, and the pull's errors, fed as bytes with a chosen clock."""

from __future__ import annotations

from typing import Any

import msgspec

from sidecar.providers.ollama.pull import MIN_INTERVAL_S, PullState


def line(**fields: Any) -> bytes:
    return msgspec.json.encode(fields) + b"\n"


def sent(notes: list[Any]) -> list[tuple[str, int, int]]:
    return [(n.params.status, n.params.total, n.params.completed) for n in notes]


def test_layers_are_summed_and_completed_never_goes_down() -> None:
    state = PullState(7, "m")
    notes = state.feed(line(status="pulling manifest"), 0.0)
    notes += state.feed(line(status="pulling a", digest="sha256:a", total=100, completed=60), 1.0)
    notes += state.feed(line(status="pulling a", digest="sha256:a", total=100, completed=40), 2.0)
    notes += state.feed(line(status="pulling b", digest="sha256:b", total=50), 3.0)
    assert sent(notes) == [
        ("pulling manifest", 0, 0), ("pulling a", 100, 60), ("pulling a", 100, 60),
        ("pulling b", 150, 60),
    ]
    assert notes[-1].params.digest == "sha256:b" and notes[-1].params.request_id == 7


def test_lines_within_the_interval_wait_for_a_status_change_or_the_flush() -> None:
    state = PullState(1, "m")
    chunk = line(status="pulling manifest") + b"".join(
        line(status="pulling a", digest="sha256:a", total=100, completed=c) for c in (10, 20, 30)
    )
    assert sent(state.feed(chunk, 0.0)) == [("pulling manifest", 0, 0), ("pulling a", 100, 10)]
    assert state.due_at == MIN_INTERVAL_S
    assert sent(state.flush(MIN_INTERVAL_S)) == [("pulling a", 100, 30)]
    assert state.due_at is None and state.flush(1.0) == []


def test_success_counts_every_layer_complete() -> None:
    state = PullState(1, "m")
    body = line(status="pulling a", digest="sha256:a", total=100, completed=90) + line(
        status="pulling b", digest="sha256:b", total=7
    ) + line(status="verifying sha256 digest") + line(status="success")
    notes = state.feed(body, 0.0)
    assert state.finished and sent(notes)[-1] == ("success", 107, 107)


def test_a_missing_manifest_is_model_not_found_and_other_errors_upstream() -> None:
    missing = PullState(1, "nope")
    missing.feed(line(status="pulling manifest") + line(error="pull model manifest: file does not exist"), 0.0)
    assert missing.failure is not None and missing.failure.kind == "model_not_found"
    broken = PullState(1, "m")
    broken.feed(line(status="pulling a", digest="sha256:a", total=9, completed=3) + line(error="disk full"), 0.0)
    assert broken.failure is not None and broken.failure.kind == "upstream_error"
    early = PullState(1, "m")
    early.feed(line(status="pulling manifest"), 0.0)
    early.eof(0.0)
    assert early.failure is not None and early.failure.kind == "stream_interrupted"
