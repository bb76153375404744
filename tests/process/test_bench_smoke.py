"""`scripts/bench --quick` as a smoke test: every measurement runs and no token is lost.

It fails on correctness only (lost, duplicated or misrouted tokens, error responses, a sidecar
that did not start or exit), never on timings: the machines are shared and noisy. The wrapper
installs the official `ollama` client into .venv when it is missing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..support import REPO_ROOT

QUICK_RUN_GUARD_S = 300  # a hang guard; the quick run takes well under a minute

MEASUREMENTS = (
    "throughput: sidecar",
    "throughput: official ollama client relay",
    "throughput: msgspec floor",
    "sidecar / official client",
    "sidecar / msgspec floor",
    "added latency at 100 tok/s: p99",
    "added latency at 2,000 tok/s: p99",
    "chat written -> upstream has the request",
    "first upstream byte -> first chat:token read",
    "cancel_chat -> chat response",
    "cancel_chat -> upstream disconnect",
    "import trio, msgspec",
    "spawn -> sidecar:ready read",
    "spawn -> first status answer read",
    "RSS idle",
    "more chats in a row",
    "RSS growth over those",
    "stalled reader: RSS growth",
    "stalled reader: tokens lost after resuming",
    "chats x 50 tok/s: tokens lost/duplicated/misrouted",
    "chats x 50 tok/s: added latency p99",
    "mixed requests beside a chat: time to drain",
    "mixed requests beside a chat: answered overloaded",
    "mixed requests beside a chat: chat's worst token delay",
    "throughput: --no-store",
    "throughput: store on, a chat on a thread",
    "store on / --no-store",
    # issue 14
    "CPU per token: sidecar / msgspec floor",
    "paced CPU per token (1 chat x 50 tok/s, a read per token): sidecar",
    "paced CPU per token (1 chat x 50 tok/s, a read per token): official client relay",
    "paced CPU per token (32 chats x 50 tok/s, a read per token): sidecar / official",
    "chat requests of 5.6 MB: added latency p99",
    "128 chats at once: RSS growth 1 s after they end",
)


def test_quick_benchmark_runs_every_measurement_without_losing_a_token() -> None:
    completed = subprocess.run(
        [str(REPO_ROOT / "scripts" / "bench"), "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_GUARD_S,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout
    assert completed.returncode == 0, f"stdout:\n{output}\nstderr:\n{completed.stderr[-4000:]}"
    for name in MEASUREMENTS:
        rows = [line for line in output.splitlines() if name in line]
        assert rows, f"the table does not mention {name!r}:\n{output}"
        for row in rows:
            # Every row has a measured median (a "-" would mean the measurement did not run).
            assert " - " not in f" {row} ".replace("  ", " "), f"no value in row: {row!r}"
    assert "correctness: every token arrived exactly once" in output
