"""One pull read from Ollama's `/api/pull` NDJSON: body bytes in, `model:pull_progress` out.

Pure and synchronous, like the chat turns. Ollama reports progress per layer (blob), one line
per 60 ms tick, with `total` and `completed` of that layer only, leaving 0 out; a client wants
the whole download. So the state keeps every layer seen (by digest) and reports the sums:
`total` grows as layers are reached, `completed` is the sum of the highest value seen per layer,
so it never decreases (Ollama rolls bytes back when it retries a chunk) and never exceeds
`total`. Lines are split on `\\n` only.

Notifications are throttled: one whenever `status` changes (a new layer, `verifying sha256
digest`, `success`), otherwise at most one per `MIN_INTERVAL_S`; a change held back is sent
once the interval has passed (`due_at`, `flush`: the I/O loop waits for the next read only
until then) and before the pull ends, so the last notification always shows the last state.
Ollama sends no line when a blob finishes, and a small blob may get none with `completed`: at
`verifying sha256 digest` (every blob is on disk) each layer counts as complete. An `{"error"}` line under 200
ends the pull: `pull model manifest: file does not exist` is `model_not_found` (Ollama sends no
404 for a model the registry does not know); any other text is `upstream_error`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ...errors import RpcError
from ...framing import LineSplitter, OversizedLine
from ...protocol import Notification, PullProgressParams, RequestId, notification
from ..turn import UPSTREAM_MAX_LINE_BYTES, error_text
from .errors import MANIFEST_MISSING, OLLAMA, PULL_FAILED_HINT, pull_not_found
from .wire import pull_line_decoder

MIN_INTERVAL_S: Final = 0.1  # at most about 10 notifications a second, plus status changes


class PullState:
    """The progress of one pull. After `success` it sets `finished`; after an error line, a
    malformed line or an early end, `failure`."""

    def __init__(self, request_id: RequestId | None, model: str) -> None:
        self.request_id = request_id
        self.model = model
        self.status = ""
        self.digest: str | None = None
        self.finished = False
        self.failure: RpcError | None = None
        self._layers: dict[str, tuple[int, int]] = {}  # digest -> (total, highest completed)
        self._last_sent_at: float | None = None
        self._sent: PullProgressParams | None = None
        self._lines = LineSplitter(UPSTREAM_MAX_LINE_BYTES)

    @property
    def ended(self) -> bool:
        return self.finished or self.failure is not None

    @property
    def total(self) -> int:
        return sum(total for total, _ in self._layers.values())

    @property
    def completed(self) -> int:
        return sum(min(done, total) for total, done in self._layers.values())

    def progress(self) -> PullProgressParams:
        return PullProgressParams(
            request_id=self.request_id,
            model=self.model,
            status=self.status,
            total=self.total,
            completed=self.completed,
            digest=self.digest if self.digest else msgspec.UNSET,
        )

    @property
    def due_at(self) -> float | None:
        """When a held-back change is to be sent (None: nothing held back)."""
        if self._last_sent_at is None or self._sent == self.progress():
            return None
        return self._last_sent_at + MIN_INTERVAL_S

    def flush(self, now: float) -> list[Notification]:
        """The held-back change, if any, as one notification."""
        out: list[Notification] = []
        if self._sent is not None and self._sent != self.progress():
            self._send(now, out)
        return out

    def feed(self, data: bytes, now: float) -> list[Notification]:
        out: list[Notification] = []
        for line in self._lines.feed(data):
            if self.ended:
                break
            self._line(line, now, out)
        if self.ended:
            out += self.flush(now)
        return out

    def eof(self, now: float) -> list[Notification]:
        out: list[Notification] = []
        for line in self._lines.flush():
            if not self.ended:
                self._line(line, now, out)
        if not self.ended:
            self.failure = OLLAMA.stream_interrupted("Ollama ended the pull before `success`")
        return out + self.flush(now)

    def _send(self, now: float, out: list[Notification]) -> None:
        self._sent = self.progress()
        self._last_sent_at = now
        out.append(notification("model:pull_progress", self._sent))

    def _line(self, line: bytes | OversizedLine, now: float, out: list[Notification]) -> None:
        if isinstance(line, OversizedLine):
            self.failure = OLLAMA.stream_interrupted(f"a line of {line.size} bytes from /api/pull")
            return
        if not line.strip():
            return
        try:
            item = pull_line_decoder.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            self.failure = OLLAMA.stream_interrupted(f"malformed line from /api/pull ({exc})")
            return
        if item.error is not msgspec.UNSET:
            text = error_text(item.error)
            if MANIFEST_MISSING in text:
                self.failure = pull_not_found(self.model, text)
            else:
                self.failure = OLLAMA.upstream_error(200, text, hint=PULL_FAILED_HINT)
            return
        changed = item.status != self.status
        self.status = item.status
        if item.digest:
            self.digest = item.digest
            total, done = self._layers.get(item.digest, (0, 0))
            self._layers[item.digest] = (max(total, item.total), max(done, item.completed))
        elif changed:
            self.digest = None  # `verifying sha256 digest` and later are about no one layer
            if self._layers and not item.status.startswith("pulling"):
                self._layers = {d: (total, total) for d, (total, _) in self._layers.items()}
        if item.status == "success":
            self.finished = True
        if changed or self._last_sent_at is None or now - self._last_sent_at >= MIN_INTERVAL_S:
            self._send(now, out)
