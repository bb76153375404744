"""`scripts/bench --frozen [PATH]`: start-up of the one-folder binary against `python -m sidecar`.

The binary is the one `scripts/build-sidecar` makes (built or reused first), or PATH. Both are
measured the way measurement 5 measures the sidecar: a reader process on the stdout pipe, the
`status` request written right after the spawn, and the time from the spawn until the reader
reads the `sidecar:ready` line, then the `status` answer (which includes the first use of the
client and the `/api/version` probe of the scripted upstream). After one unmeasured warm-up of
each, `--runs` rounds (default 10; 3 with --quick) spawn both, alternating which goes first; the
table shows medians, and the fastest and slowest run. RSS is read once the ready line is read
(the target of issue 14: at most 1.1x) and once `status` is answered, with the process's CPU time
(user+sys, less sensitive to a busy machine than the wall-clock times).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import trio

from .report import Row, machine, machine_text, table, table_markdown
from .rig import REPO_ROOT, BenchFailure, open_rig
from .upstream import open_bench_ollama


def build() -> Path:
    """scripts/build-sidecar's executable (its progress goes to our stderr)."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / "packaging" / "build.py")],
                            stdout=subprocess.PIPE, text=True, check=True)
    return Path(result.stdout.strip().splitlines()[-1])


def _folder_mb(executable: Path) -> float:
    return sum(p.stat().st_size for p in executable.parent.rglob("*") if p.is_file()) / 1e6


async def _start(
    name: str, command: list[str], url: str
) -> tuple[float, float, int, float, int]:
    """Spawn -> ready read, spawn -> status answer read (s), then RSS (KiB) and CPU time (s),
    and RSS (KiB) when the ready line was read."""
    async with open_rig(name) as rig:
        await rig.start_reader()
        spawned = await rig.spawn([*command, "--ollama-url", url, "--model", "bench"])
        status, _ = await rig.send("status")  # written at once: requests before ready are kept
        await rig.wait_for(lambda: "ready" in rig.marks, "sidecar:ready line", 30.0)
        rss_ready = rig.rss_kib()
        answered, result = await rig.result(status)
        if not result["ollama"]["reachable"]:
            raise BenchFailure(f"{name}: status says the upstream is unreachable: {result!r}")
        rss = rig.rss_kib()
        cpu, _ = rig.cpu()
        await rig.finish()
    if rig.lines[0][1].get("method") != "sidecar:ready":
        raise BenchFailure(f"{name}: the first line was not sidecar:ready")
    return rig.marks["ready"] - spawned, answered - spawned, rss, cpu, rss_ready


async def measure(executable: Path, rounds: int) -> dict[str, dict[str, list[float]]]:
    commands = {"python": [sys.executable, "-m", "sidecar"], "frozen": [str(executable)]}
    raw: dict[str, dict[str, list[float]]] = {
        name: {"ready_ms": [], "status_ms": [], "rss_kib": [], "cpu_ms": [], "rss_ready_kib": []}
        for name in commands
    }
    async with open_bench_ollama() as fake:
        for name, command in commands.items():  # warm the page cache for both
            await _start(name, command, fake.url)
        for index in range(rounds):
            order = list(commands) if index % 2 == 0 else list(reversed(commands))
            for name in order:
                ready, status, rss, cpu, rss_ready = await _start(name, commands[name], fake.url)
                raw[name]["rss_ready_kib"].append(rss_ready)
                raw[name]["ready_ms"].append(ready * 1000)
                raw[name]["status_ms"].append(status * 1000)
                raw[name]["rss_kib"].append(rss)
                raw[name]["cpu_ms"].append(cpu * 1000)
            print(f"  round {index + 1}/{rounds}: ready python "
                  f"{raw['python']['ready_ms'][-1]:.0f} ms, frozen "
                  f"{raw['frozen']['ready_ms'][-1]:.0f} ms", file=sys.stderr, flush=True)
    return raw


def rows(raw: dict[str, dict[str, list[float]]]) -> list[Row]:
    def m(name: str, key: str) -> float:
        return statistics.median(raw[name][key])

    def spread(name: str, key: str) -> str:
        return f"{min(raw[name][key]):.0f}-{max(raw[name][key]):.0f} ms"

    out = []
    for key, what in (("ready_ms", "sidecar:ready read"),
                      ("status_ms", "first status answer read")):
        out += [
            Row("F", f"python -m sidecar: spawn -> {what} ({spread('python', key)})",
                m("python", key), "ms"),
            Row("F", f"frozen binary: spawn -> {what} ({spread('frozen', key)})",
                m("frozen", key), "ms"),
            Row("F", f"frozen / python ({what})", m("frozen", key) / m("python", key), "x",
                1.15, False, "<= 1.15x"),
        ]
    out += [
        Row("F", "python -m sidecar: RSS when the ready line is read",
            m("python", "rss_ready_kib") * 1024 / 1e6, "MB"),
        Row("F", "frozen binary: RSS when the ready line is read",
            m("frozen", "rss_ready_kib") * 1024 / 1e6, "MB"),
        Row("F", "frozen / python (RSS at ready)",
            m("frozen", "rss_ready_kib") / m("python", "rss_ready_kib"), "x", 1.1, False,
            "<= 1.1x"),
        Row("F", "python -m sidecar: CPU time (user+sys) until the status answer",
            m("python", "cpu_ms"), "ms"),
        Row("F", "frozen binary: CPU time (user+sys) until the status answer",
            m("frozen", "cpu_ms"), "ms"),
        Row("F", "python -m sidecar: RSS after the status answer",
            m("python", "rss_kib") * 1024 / 1e6, "MB"),
        Row("F", "frozen binary: RSS after the status answer",
            m("frozen", "rss_kib") * 1024 / 1e6, "MB"),
    ]
    return out


def frozen_startup(path: str | None, rounds: int, markdown: bool = True) -> int:
    executable = build() if path is None else Path(path).resolve()
    if not executable.is_file():
        print(f"no executable at {executable}", file=sys.stderr)
        return 2
    print(f"ollama-sidecar start-up: frozen binary vs python -m sidecar ({rounds} rounds; medians)")
    print(machine_text(machine()))
    print(f"binary: {executable} (folder {_folder_mb(executable):.1f} MB)", flush=True)
    folder_mb = _folder_mb(executable)
    started = time.monotonic()
    try:
        raw = trio.run(measure, executable, rounds)
    except BenchFailure as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    table_rows = [*rows(raw), Row("F", "frozen binary: size of its folder", folder_mb, "MB")]
    print()
    print(table(table_rows))
    if markdown:
        print()
        print(table_markdown(table_rows))
    for name, keys in raw.items():
        print(f"{name}: spawn -> ready per run (ms): "
              + ", ".join(f"{v:.0f}" for v in keys["ready_ms"]))
    print(f"\nwall time: {time.monotonic() - started:.1f} s")
    return 0

