"""What the benchmark prints and writes: the machine, the table of medians against the issue's
targets, the raw numbers as JSON, and PNG plots.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

PACKAGES = ("ollama-sidecar", "trio", "httpx", "httpcore", "h11", "msgspec", "ollama")


# --- the machine -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "sidecar_source": _source_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory": memory,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": versions,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def _source_version() -> str:
    """The commit of the sidecar under test, "+ local changes" when sidecar/ differs from it."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sidecar"], cwd=root,
                               text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' + local changes in sidecar/' if dirty else ''}"


def machine_text(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    return (
        f"sidecar: commit {info['sidecar_source']}\n"
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"{info['memory']}, Linux {info['kernel']}\n"
        f"python {info['python']}; {packages}\n"
        f"load average at start: {' '.join(map(str, info['load_average_at_start']))}"
    )


# --- rows ------------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    name: str
    value: float | None
    unit: str
    bound: float | None = None  # the target's limit, in `unit`
    at_least: bool = False  # True: value >= bound passes; False: value <= bound passes
    target_text: str = ""

    @property
    def ratio(self) -> float | None:
        if self.bound is None or self.value is None or self.bound == 0:
            return None
        return self.value / self.bound

    @property
    def verdict(self) -> str:
        if self.bound is None or self.value is None:
            return ""
        ok = self.value >= self.bound if self.at_least else self.value <= self.bound
        return "PASS" if ok else "MISS"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "tok/s":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.1f}"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "tokens":
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    header = ("#", "measurement", "median", "unit", "target", "ratio", "result")
    body = [
        (r.section, r.name, _fmt(r.value, r.unit), r.unit, r.target_text,
         "" if r.ratio is None else f"{r.ratio:.2f}", r.verdict)
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    align = ["<", "<", ">", "<", "<", ">", "<"]

    def render(line: tuple) -> str:
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(line, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in body)])


def table_markdown(rows: list[Row]) -> str:
    lines = ["| # | measurement | median | unit | target | ratio | result |",
             "|---|---|---:|---|---|---:|---|"]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        target = r.target_text.replace("<=", "≤").replace(">=", "≥")
        lines.append(f"| {r.section} | {r.name} | {_fmt(r.value, r.unit)} | {r.unit} | {target} "
                     f"| {ratio} | {r.verdict} |")
    return "\n".join(lines)


# --- output files ------------------------------------------------------------------------------


def write_json(path: Path, info: dict[str, Any], args: dict[str, Any], rows: list[Row],
               runs: dict[str, list[dict[str, Any]]], failures: list[str]) -> None:
    document = {
        "machine": info, "args": args, "failures": failures,
        "rows": [{**asdict(r), "ratio": r.ratio, "verdict": r.verdict} for r in rows],
        "runs": runs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=1))


def write_plots(directory: Path, runs: dict[str, list[dict[str, Any]]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    plt.rcParams.update({"font.size": 8})

    latency_sets = [
        (name, label, limit)
        for name, label, limit in (
            ("latency_100", "100 tok/s", 2.0),
            ("latency_2000", "2,000 tok/s", 5.0),
            ("concurrent", "32 chats x 50 tok/s", 10.0),
        )
        if runs.get(name)
    ]
    if latency_sets:
        fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
        for (name, label, limit), color in zip(latency_sets, ("C0", "C1", "C2")):
            pooled = sorted(v for run in runs[name] for v in run["latencies_ms"])
            n = len(pooled)
            ax.plot(pooled, [(i + 1) / n * 100 for i in range(n)], color=color,
                    label=f"{label} (n={n})")
            ax.axvline(limit, color=color, linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("added latency per token, ms (upstream send -> reader read); dotted: p99 target")
        ax.set_ylabel("% of tokens")
        ax.set_title("Latency the sidecar adds, all runs pooled")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        written.append(_save(fig, directory / "latency.png"))

    variants = [(key, label) for key, label in (
        ("throughput_official", "official ollama client"),
        ("throughput_sidecar", "sidecar"),
        ("throughput_floor", "msgspec floor (no I/O)"),
    ) if runs.get(key)]
    if variants:
        fig, ax = plt.subplots(figsize=(6, 2.4), dpi=100)
        medians = [statistics.median(r["tokens_per_s"] for r in runs[k]) for k, _ in variants]
        bars = ax.barh([label for _, label in variants], medians, color=["C7", "C0", "C2"][:len(variants)])
        for bar, value in zip(bars, medians):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:,.0f}",
                    va="center")
        ax.set_xscale("log")
        ax.set_xlabel("tokens/s (median of runs, log scale)")
        tokens = runs[variants[0][0]][0]["tokens"]
        ax.set_title(f"Relay throughput of one {tokens:,}-token reply")
        ax.set_xlim(right=max(medians) * 8)
        fig.tight_layout()
        written.append(_save(fig, directory / "throughput.png"))

    if runs.get("stalled"):
        run = runs["stalled"][0]
        fig, ax = plt.subplots(figsize=(6, 2.6), dpi=100)
        ax.plot([t for t, _ in run["samples"]], [k * 1024 / 1e6 for _, k in run["samples"]])
        ax.axvspan(0, run["stall_s"], color="C1", alpha=0.2, label="reader not reading")
        ax.axhline(run["baseline_kib"] * 1024 / 1e6 + 10, color="C3", linestyle=":",
                   label="target: baseline + 10 MB")
        ax.set_xlabel("s since the reader stopped reading")
        ax.set_ylabel("sidecar RSS, MB")
        ax.set_title(f"RSS during a {run['tokens']:,}-token reply with a stalled reader")
        ax.legend(loc="lower right")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, directory / "memory.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
