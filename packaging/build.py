"""`scripts/build-sidecar [--force] [--out DIR]`: the one-folder PyInstaller binary of the sidecar.

Writes DIR/ollama-sidecar-<target-triple>/ (DIR defaults to dist/ at the repo root):

    ollama-sidecar-<target-triple>[.exe]    the executable, named the way Tauri's externalBin wants
    ollama-sidecar-internal/                Python, the libraries and the sidecar package; it must
                                            stay beside the executable

and prints the executable's path on stdout (progress goes to stderr). A build is skipped when a
stamp over everything that goes into it (the sidecar's sources, packaging/, pyproject.toml, the
Python version, the packages installed in .venv, the triple) matches the last one, so tests can
call this first and reuse a fresh build. A new build is made beside the old one and swapped in at the end, under
a lock, so concurrent callers never run a half-written binary.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Final

PACKAGING: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = PACKAGING.parent
SPEC: Final = PACKAGING / "ollama-sidecar.spec"
BASE_NAME: Final = "ollama-sidecar"
CONTENTS_DIR: Final = "ollama-sidecar-internal"

_OS_SUFFIX: Final = {
    "Linux": "unknown-linux-gnu", "Darwin": "apple-darwin", "Windows": "pc-windows-msvc",
}
_ARCH: Final = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def log(message: str) -> None:
    sys.stderr.write(f"build-sidecar: {message}\n")
    sys.stderr.flush()


def target_triple() -> str:
    """rustc's host triple (what `tauri build` uses), else one derived from this platform."""
    rustc = shutil.which("rustc")
    if rustc is not None:
        try:
            info = subprocess.run([rustc, "-vV"], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            info = ""
        for line in info.splitlines():
            if line.startswith("host:"):
                return line.split(":", 1)[1].strip()
    system, machine = platform.system(), platform.machine().lower()
    if system not in _OS_SUFFIX or machine not in _ARCH:
        raise SystemExit(f"build-sidecar: no target triple for {system}/{machine}; install rustc")
    return f"{_ARCH[machine]}-{_OS_SUFFIX[system]}"


def _inputs() -> Iterator[Path]:
    for path in sorted((REPO_ROOT / "sidecar").rglob("*")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if path.is_file() and "__pycache__" not in relative:
            yield path
    yield from sorted(p for p in PACKAGING.iterdir() if p.suffix in (".py", ".spec"))
    yield REPO_ROOT / "pyproject.toml"
    yield REPO_ROOT / "scripts" / "build-sidecar"


def stamp(triple: str) -> str:
    """A hash of everything that goes into the binary, installed packages included."""
    installed = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\n{triple}\n{CONTENTS_DIR}\n{installed}\n".encode())
    for path in _inputs():
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class _Lock:
    """An exclusive lock on a file (blocking), so two builds never write the same folder."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a+b")

    def __enter__(self) -> _Lock:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(self._file.fileno(), msvcrt.LK_LOCK, 1)
                    return self
                except OSError:  # LK_LOCK gives up after 10 s: keep waiting
                    continue
        import fcntl

        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()  # closing the file releases the lock


def smoke_check(executable: Path) -> None:
    """The binary starts and answers --version; the CA bundle for https is inside."""
    result = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not result.stdout.startswith(f"{BASE_NAME} "):
        raise SystemExit(
            f"build-sidecar: {executable.name} --version failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    contents = executable.parent / CONTENTS_DIR
    if not (contents / "certifi" / "cacert.pem").is_file():
        raise SystemExit(f"build-sidecar: certifi's cacert.pem is missing from {contents}")


def build(out: Path, name: str, work: Path) -> Path:
    staging = work / "dist"
    shutil.rmtree(staging, ignore_errors=True)
    env = {**os.environ,
           "OLLAMA_SIDECAR_BINARY_NAME": name, "OLLAMA_SIDECAR_CONTENTS_DIR": CONTENTS_DIR}
    command = [
        sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
        "--distpath", str(staging), "--workpath", str(work / "pyinstaller"),
    ]
    log(f"PyInstaller {name} (one folder) ...")
    subprocess.run(command, check=True, env=env, cwd=REPO_ROOT, stdout=sys.stderr)
    executable = staging / name / (name + (".exe" if sys.platform == "win32" else ""))
    smoke_check(executable)
    # Swap the new folder in; the old one is moved aside first so the name is never half-written.
    target, old = out / name, work / "old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    (staging / name).rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target / executable.name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/build-sidecar",
        description="Build the one-folder PyInstaller binary ollama-sidecar-<target-triple> and "
        "print the executable's path.",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the build is fresh")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "dist",
        help="where the folder goes (default: dist/ at the repo root)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out.resolve()
    triple = target_triple()
    name = f"{BASE_NAME}-{triple}"
    executable = out / name / (name + (".exe" if sys.platform == "win32" else ""))
    work = out / ".build-sidecar"
    work.mkdir(parents=True, exist_ok=True)
    with _Lock(work / "lock"):
        wanted = stamp(triple)
        stamp_file = work / f"{name}.stamp"
        fresh = stamp_file.is_file() and stamp_file.read_text().strip() == wanted
        if fresh and executable.is_file() and not args.force:
            log(f"up to date ({executable.parent.relative_to(out.parent)})")
        else:
            started = time.monotonic()
            stamp_file.unlink(missing_ok=True)
            executable = build(out, name, work)
            stamp_file.write_text(wanted + "\n")
            log(f"built in {time.monotonic() - started:.0f} s")
    sys.stdout.write(f"{executable}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
