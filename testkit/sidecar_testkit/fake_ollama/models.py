"""The scripted Ollama's model lifecycle: what is installed and loaded, and the bytes of
`/api/show`, `/api/ps`, `/api/pull`, `/api/delete` and the load/unload answers.

Why it is built this way: the lifecycle endpoints share one piece of state (a pulled model shows
up in `/api/tags`, a deleted one answers 404 everywhere, a loaded one is listed by `/api/ps`), so
it lives in one `ModelState` that the server consults and updates; everything here is pure (no
I/O, no trio) and the server only plays what it returns. Shapes follow
Ollama's own source (`server/routes.go`, `server/images.go`): gin's `c.JSON` bodies without a newline,
pull progress as NDJSON `{"status","digest"?,"total"?,"completed"?}` with 0 left out, and a pull
that fails after `pulling manifest` reports its error as a 200 NDJSON `{"error"}` line.

Which pull does what is decided by the name (without `:latest`):

- `pull-fails`: two layers' worth of progress, then `{"error":"max retries exceeded: ..."}`.
- `pull-stalls`: half of the first layer, then nothing more until the client leaves.
- `not-found`, `does-not-exist` and names starting with `missing`: `pulling manifest`, then
  `{"error":"pull model manifest: file does not exist"}`.
- anything else: several layers, one line per 60 ms-like tick (about 35 lines, so the server's
  `pace` sets the duration: 2 s at 0.05 s), then `verifying sha256 digest`, `writing manifest`,
  `success`; the model is installed once `success` has been sent.

Capabilities per scenario model: `vision` sees images, `plain` has no tools, `thinking` (and
`thinking-and-content`) think, every other model has `completion` and `tools`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import msgspec

from sidecar_testkit.fake_ollama.wire import (
    error_body,
    fake_digest,
    go_json,
    model_size,
    rfc3339_nano,
    scripted_details,
)

DEFAULT_CAPABILITIES: Final = ("completion", "tools")
CAPABILITIES: Final[dict[str, tuple[str, ...]]] = {
    "thinking": ("completion", "tools", "thinking"),
    "thinking-and-content": ("completion", "tools", "thinking"),
    "vision": ("completion", "vision"),
    "plain": ("completion",),
    "no-tools": ("completion",),
}
TRAINED_CONTEXT: Final = 131_072
DEFAULT_NUM_CTX: Final = 4096
DEFAULT_KEEP_ALIVE_S: Final = 300.0
FOREVER_NS: Final = 292 * 365 * 24 * 3600 * 1_000_000_000  # Go's MaxInt64 duration, about

PULL_FAILS: Final = "pull-fails"
PULL_STALLS: Final = "pull-stalls"
PULL_MISSING: Final = frozenset({"not-found", "does-not-exist"})
PULL_FAILURE_TEXT: Final = (
    "max retries exceeded: read tcp 10.0.0.2:51234->104.21.75.227:443: read: connection reset "
    "by peer"
)
MANIFEST_MISSING_TEXT: Final = "pull model manifest: file does not exist"
# (size in bytes, ticks) of each blob of a pulled model, config blob last.
LAYERS: Final = ((4_000_000, 16), (2_500_000, 12), (1429, 1), (561, 2))
_UNLOAD: Final = (0, "0", "0s", "0m", "0h")


def full_name(name: str) -> str:
    """`name` as Ollama lists it: a bare name gets `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def base_name(name: str) -> str:
    return name.removesuffix(":latest")


def capabilities_of(name: str) -> list[str]:
    return list(CAPABILITIES.get(base_name(name), DEFAULT_CAPABILITIES))


def is_unload(request: dict[str, Any]) -> bool:
    keep_alive = request.get("keep_alive")
    return keep_alive in _UNLOAD and not isinstance(keep_alive, bool)


class PullPlan(msgspec.Struct):
    """What a pull sends: NDJSON `lines`, whether it then hangs, and whether it installs."""

    lines: list[bytes]
    hang: bool = False
    installs: bool = False


class ModelState:
    """Installed and loaded models. `scripted` gives the scenario models (installed at start)."""

    def __init__(self, scripted: Callable[[], list[str]]) -> None:
        self._scripted = scripted
        self.pulled: list[str] = []
        self.deleted: set[str] = set()
        # full name -> (expires_at in ns since the epoch, context length)
        self.loaded: dict[str, tuple[int, int]] = {}

    # --- what is there ----------------------------------------------------------------------

    def installed(self) -> list[str]:
        names = [full_name(n) for n in self._scripted()] + self.pulled
        return [n for n in dict.fromkeys(names) if n not in self.deleted]

    def is_installed(self, name: str) -> bool:
        return full_name(name) in self.installed()

    def is_deleted(self, name: str) -> bool:
        return full_name(name) in self.deleted and full_name(name) not in self.pulled

    def is_pulled(self, name: str) -> bool:
        return full_name(name) in self.pulled

    def capabilities(self) -> dict[str, list[str]]:
        return {name: capabilities_of(name) for name in self.installed()}

    # --- load and unload --------------------------------------------------------------------

    def load(self, name: str, request: dict[str, Any]) -> None:
        """A chat (or a load request) for `name` has the model in memory from now on."""
        options = request.get("options")
        num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
        if not isinstance(num_ctx, int) or isinstance(num_ctx, bool) or num_ctx <= 0:
            num_ctx = DEFAULT_NUM_CTX
        keep_alive = request.get("keep_alive", DEFAULT_KEEP_ALIVE_S)
        seconds = _seconds(keep_alive)
        now = time.time_ns()
        expires = now + FOREVER_NS if seconds < 0 else now + int(seconds * 1e9)
        self.loaded[full_name(name)] = (expires, num_ctx)

    def unload(self, name: str) -> None:
        self.loaded.pop(full_name(name), None)

    # --- bodies -----------------------------------------------------------------------------

    def show(self, request: Any) -> tuple[int, bytes]:
        name = model_field(request)
        if not name:
            return 400, error_body("model is required")
        if not self.is_installed(name):
            return 404, error_body(f"model '{full_name(name)}' not found")
        details = scripted_details()
        info: dict[str, Any] = {
            "general.architecture": "scripted",
            "general.parameter_count": 1_000_000_000,
            "scripted.context_length": TRAINED_CONTEXT,
        }
        if base_name(name) == "plain":
            del info["scripted.context_length"]  # a model without the key: context_length null
        body = {
            "license": "Scripted license",
            "modelfile": f"# Modelfile of the scripted model {full_name(name)}\n",
            "template": "{{ .Prompt }}",
            "details": details,
            "model_info": info,
            "tensors": [{"name": "output_norm.weight", "type": "F32", "shape": [2048]}],
            "capabilities": capabilities_of(name),
            "modified_at": rfc3339_nano(time.time_ns()),
        }
        return 200, go_json(body)

    def ps(self) -> bytes:
        now = time.time_ns()
        entries = []
        for name, (expires, num_ctx) in self.loaded.items():
            if expires <= now:
                continue
            size = model_size(name)
            entries.append(
                (
                    expires,
                    {
                        "name": name,
                        "model": name,
                        "size": size,
                        "digest": fake_digest(name),
                        "details": scripted_details(),
                        "expires_at": rfc3339_nano(expires),
                        "size_vram": size,
                        "context_length": num_ctx,
                    },
                )
            )
        entries.sort(key=lambda e: e[0], reverse=True)
        return go_json({"models": [entry for _, entry in entries]})

    def delete(self, request: Any) -> tuple[int, bytes]:
        name = model_field(request)
        if not name:
            return 400, error_body("model is required")
        if not self.is_installed(name):
            return 404, error_body(f"model '{name}' not found")
        full = full_name(name)
        self.deleted.add(full)
        if full in self.pulled:
            self.pulled.remove(full)
        return 200, b""

    def pull(self, request: Any) -> PullPlan:
        name = model_field(request)
        base = base_name(name)
        manifest = _progress("pulling manifest")
        if base in PULL_MISSING or base.startswith("missing"):
            return PullPlan([manifest, error_body(MANIFEST_MISSING_TEXT) + b"\n"])
        if self.is_installed(name):  # every blob is a cache hit: one line each
            lines = [manifest]
            for index, (size, _) in enumerate(LAYERS):
                digest = _layer_digest(name, index)
                lines.append(_progress(f"pulling {digest[:12]}", digest, size, size))
            return PullPlan([*lines, *_finish()], installs=True)
        lines = [manifest, *_layer_lines(name)]
        if base == PULL_FAILS:
            cut = 1 + LAYERS[0][1] + LAYERS[1][1] // 2
            return PullPlan([*lines[:cut], error_body(PULL_FAILURE_TEXT) + b"\n"])
        if base == PULL_STALLS:
            return PullPlan(lines[: 1 + LAYERS[0][1] // 2], hang=True)
        return PullPlan([*lines, *_finish()], installs=True)

    def installed_by_pull(self, name: str) -> None:
        full = full_name(name)
        self.deleted.discard(full)
        if full not in self.pulled:
            self.pulled.append(full)


def model_field(request: Any) -> str:
    if not isinstance(request, dict):
        return ""
    name = request.get("model") or request.get("name")
    return name if isinstance(name, str) else ""


def _seconds(keep_alive: Any) -> float:
    if isinstance(keep_alive, (int, float)) and not isinstance(keep_alive, bool):
        return float(keep_alive)
    if isinstance(keep_alive, str):
        units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        for suffix in ("ms", "s", "m", "h"):
            if keep_alive.endswith(suffix):
                try:
                    return float(keep_alive[: -len(suffix)]) * units[suffix]
                except ValueError:
                    break
        try:
            return float(keep_alive)
        except ValueError:
            pass
    return DEFAULT_KEEP_ALIVE_S


def _layer_digest(name: str, index: int) -> str:
    return "sha256:" + fake_digest(f"{full_name(name)}#{index}")


def _progress(
    status: str, digest: str | None = None, total: int = 0, completed: int = 0
) -> bytes:
    line: dict[str, Any] = {"status": status}
    if digest is not None:
        line["digest"] = digest
    if total:
        line["total"] = total
    if completed:
        line["completed"] = completed
    return go_json(line) + b"\n"


def _layer_lines(name: str) -> list[bytes]:
    """One line per tick and layer, as `blobDownload.Wait` sends them: the first tick of a big
    blob has no `completed`, and a blob's last line may stay below its total."""
    lines = []
    for index, (size, ticks) in enumerate(LAYERS):
        digest = _layer_digest(name, index)
        status = f"pulling {digest[7:19]}"
        for tick in range(ticks):
            completed = size * tick // ticks if ticks > 1 else 0
            lines.append(_progress(status, digest, size, completed))
        if ticks > 1:
            lines.append(_progress(status, digest, size, size))
    return lines


def _finish() -> list[bytes]:
    return [
        _progress("verifying sha256 digest"),
        _progress("writing manifest"),
        _progress("success"),
    ]


def whole_pull(plan: PullPlan) -> tuple[int, bytes]:
    """A `stream: false` pull: the last progress, or 500 with the error (`waitForStream`)."""
    if plan.hang:
        return 500, error_body("context canceled")
    last = msgspec.json.decode(plan.lines[-1])
    if "error" in last:
        return 500, error_body(last["error"])
    return 200, go_json(last)
