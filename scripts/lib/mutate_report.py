"""The report of scripts/mutate: killed / survived per module from mutmut's results in mutants/,
then every survivor's diff (the line a test should notice, or that docs/testing.md calls
equivalent). Usage: mutate_report.py MODULE...; with --survivors first, only the names of the
survivors and the mutants no test reached, one per line (for scripts/mutate --survivors); with --table, only the counts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

KILLED = {1: "killed", 3: "killed", 37: "killed"}
NAMES = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
         24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def status(code: int | None) -> str:
    return KILLED.get(code) or NAMES.get(code, "suspicious")  # type: ignore[arg-type]


def survivor_names(module: str) -> list[str]:
    path = Path(module if module.endswith(".py") else module.replace(".", "/") + ".py")
    meta = Path("mutants") / (str(path) + ".meta")
    if not meta.exists():
        return []
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    # "no tests" too: after new tests, a mutant no test reached before may be reached now.
    return [name for name, code in codes.items() if status(code) in ("survived", "no tests")]


def main(modules: list[str]) -> None:
    if modules and modules[0] == "--survivors":
        for module in modules[1:]:
            print("\n".join(survivor_names(module)))
        return
    table_only = bool(modules) and modules[0] == "--table"
    if table_only:
        modules = modules[1:]
    survivors: list[str] = []
    print("| module | mutants | killed | timeout | survived | no tests | not checked |")
    print("|---|---|---|---|---|---|---|")
    for module in modules:
        path = Path(module if module.endswith(".py") else module.replace(".", "/") + ".py")
        meta = Path("mutants") / (str(path) + ".meta")
        if not meta.exists():
            print(f"| {path} | (not run) | | | | | |")
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status(code) for code in codes.values())
        print(f"| {path} | {len(codes)} | {counts['killed']} | {counts['timeout']} | "
              f"{counts['survived']} | {counts['no tests']} | {counts['not checked']} |")
        survivors += [name for name, code in codes.items() if status(code) in ("survived", "no tests")]
    if table_only:
        return
    print()
    for name in survivors:
        shown = subprocess.run([".venv/bin/mutmut", "show", name], capture_output=True, text=True)
        lines = [l for l in shown.stdout.splitlines() if l.startswith(("-", "+", "#"))
                 and not l.startswith(("---", "+++"))]
        print("\n".join(lines))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
