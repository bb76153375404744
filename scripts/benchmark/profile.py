"""`scripts/bench --profile PATH [--paced]`: py-spy samples the sidecar during a reply.

The sidecar is spawned as in measurement 1, `py-spy record --pid` is attached to it (nothing in
`sidecar/` changes), the 200,000-token reply (20,000 with --quick) streams through, and the
sidecar is shut down, which ends the recording. With `--paced`, the reply is instead 1,000
tokens (200 with --quick) at 50 tokens/s, one network read per token, as in measurement 9.
PATH gets py-spy's raw collapsed stacks; PATH.top.txt the functions by own ("self") and
inclusive ("total") share of the samples. py-spy counts time in a system call (epoll_wait,
read, write) as the calling function's, so those functions stand for the kernel's work too, and
it cannot always tell a thread blocked in a system call from a busy one: the stdout watch's
thread, which only ever waits in poll() (`stdio._wait_hangup`), is left out of the summary.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import trio

from . import streaming
from .rig import open_rig, start_sidecar
from .upstream import chat_params, expected_text, open_bench_ollama, paced

SAMPLE_RATE = 200
PACED_SAMPLE_RATE = 2000  # a paced reply is mostly idle: sample often to see its few ms


def py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed (scripts/bench installs it for --profile)")
    return found


def top(raw: Path, limit: int = 25, rate: int = SAMPLE_RATE) -> str:
    """Own ("self") and inclusive ("total") sample shares per function, and own share per
    package, from py-spy's raw (collapsed stacks) output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f and not f.startswith(
            ("process ", "thread "))]
        if not frames or any(f.startswith("_wait_hangup ") for f in frames):
            continue
        samples += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in dict.fromkeys(frames):
            total[frame] += count
    lines = [f"{samples} samples at {rate} Hz while on CPU (idle time is not sampled)", "",
             "self %  package (own time)"]
    lines += [f"{100 * n / samples:6.1f}  {name}" for name, n in packages.most_common()]
    lines += ["", "self %  function (file)"]
    lines += [f"{100 * n / samples:6.1f}  {name}" for name, n in own.most_common(limit)]
    lines += ["", "total %  function (file)"]
    lines += [f"{100 * n / samples:7.1f}  {name}" for name, n in total.most_common(limit)]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """`func (/long/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.", "/work/main/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    if where[:3].rstrip("0123456789") == "" or where[:3].endswith("/"):
        where = where.split("/", 1)[-1]  # "11/contextlib.py" -> "contextlib.py"
    return f"{name} ({where})" if where else name


def _package(function: str) -> str:
    where = function.rpartition(" (")[2].rstrip(")")
    head = where.split("/", 1)[0]
    return head.removesuffix(".py") if head else "?"


async def _record(path: Path, tokens: int, paced_rate: float | None) -> None:
    if paced_rate is None:
        streaming.prepare_throughput(tokens)
    async with open_bench_ollama() as fake:
        fake.reset()
        if paced_rate is None:
            fake.expect("throughput", streaming._fast(streaming.THROUGHPUT_PREFIX, tokens))
        else:
            fake.expect("throughput", paced("p", tokens, paced_rate))
        async with open_rig("sidecar (profiled)") as rig:
            await start_sidecar(rig, fake.url)
            spy = await trio.lowlevel.open_process(
                [py_spy(), "record", "--pid", str(rig.pid), "--rate",
                 str(SAMPLE_RATE if paced_rate is None else PACED_SAMPLE_RATE),
                 "--format", "raw", "--output", str(path)],
                stdout=subprocess.DEVNULL,
            )
            await trio.sleep(1.0)  # let py-spy attach
            chat, _ = await rig.send("chat", chat_params("throughput"))
            _, result = await rig.result(chat, streaming.BIG_WAIT_S)
            await rig.finish(timeout=streaming.BIG_WAIT_S)
            with trio.move_on_after(30):
                await spy.wait()
    text, _ = rig.chat_log(chat)
    want = (streaming._text(streaming.THROUGHPUT_PREFIX, tokens) if paced_rate is None
            else expected_text("p", tokens))
    streaming.check_text("profiled run", text, want)


def profile(path: Path, tokens: int, paced_rate: float | None = None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    trio.run(_record, path, tokens, paced_rate)
    summary = top(path, rate=SAMPLE_RATE if paced_rate is None else PACED_SAMPLE_RATE)
    summary_path = path.with_name(path.name + ".top.txt")
    summary_path.write_text(summary + "\n")
    print(summary)
    print(f"\nraw stacks: {path}\nsummary: {summary_path}")
    return 0
