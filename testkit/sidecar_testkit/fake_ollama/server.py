"""A real HTTP/1.1 server on loopback that plays `Script`s the way Ollama sends its bytes.

Why it is built this way: the sidecar's streaming client has to be tested against real sockets,
because the bugs it must survive live there (a chunk boundary inside a UTF-8 character, a
connection cut mid-body, a first byte that takes seconds, a cancel that must reach the server as
a closed connection). So this is a small trio + h11 server, not an httpx MockTransport.

- h11 does the HTTP framing (keep-alive, chunked request bodies, HEAD); every socket write is one
  `send_all`, so each NDJSON line leaves as exactly one HTTP chunk, as Go's `Flush` does.
- While a response is being played, a second task keeps reading the socket. EOF there means the
  client went away, even while the script sleeps, hangs or is paused; it cancels the playing task
  and the request's record is marked disconnected. Bytes read there (a pipelined next request)
  are handed to h11 for the next cycle.
- What to say is decided in `scenarios.py`; this module only routes, records and plays. The
  OpenAI-compatible routes (`POST /v1/chat/completions`, `GET /v1/models`) play the same scripts,
  rendered as SSE by `openai_render` in the flavour of one real server (`openai_flavour`), and can
  demand a bearer token (`api_key`), so a client's whole OpenAI path runs against real sockets.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, Self

import h11
import trio

from sidecar_testkit.fake_ollama import models, openai_render, openai_wire, whole
from sidecar_testkit.fake_ollama.connection import Connection, response_head
from sidecar_testkit.fake_ollama.logprobs import wants_logprobs, with_logprobs
from sidecar_testkit.fake_ollama.openai_request import ollama_request, request_problem
from sidecar_testkit.fake_ollama.record import (
    API_CHAT,
    CHAT_PATHS,
    V1_CHAT,
    RequestRecord,
    decode_json,
)
from sidecar_testkit.fake_ollama.scenarios import (
    ERROR_SCENARIOS,
    SCENARIOS,
    Script,
    ScriptFactory,
    scenario_for_model,
)
from sidecar_testkit.fake_ollama.wire import error_body, go_json, tags_body

logger = logging.getLogger(__name__)

VERSION: Final = "0.33.0-scripted"
SPLIT_PIECE_GAP_S: Final = 0.002

_JSON: Final = "application/json; charset=utf-8"
_TEXT_UTF8: Final = "text/plain; charset=utf-8"
_TEXT: Final = "text/plain"

V1_MODELS: Final = "/v1/models"


Responder = Callable[[Connection, RequestRecord], Awaitable[bool]]


class ScriptedOllama:
    """An Ollama imitation; `serve` runs it, `open_scripted_ollama` wraps that in a nursery.

    Tests steer it through plain attributes, which are read at each request (or line):
    `scenario` (when not None, every chat request plays it, whatever its model), `pace`
    (seconds between streamed lines), `scripts` (this instance's scenario name -> factory),
    `pause_after` (every chat stream waits after that many lines until `release()`), and for
    the `/v1` routes `openai_flavour` ("llama-server" or "ollama", see `openai_wire`),
    `api_key` (when set, `/v1` requests without `Authorization: Bearer <api_key>` get 401) and
    `openai_keepalive` (SSE comment lines early in every `/v1` stream).
    """

    def __init__(
        self,
        *,
        scenario: str | None = None,
        pace: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        openai_flavour: str = openai_wire.DEFAULT_FLAVOUR,
        api_key: str | None = None,
        openai_keepalive: bool = True,
    ) -> None:
        if openai_flavour not in openai_wire.FLAVOURS:
            raise ValueError(f"openai_flavour must be one of {openai_wire.FLAVOURS}")
        self.scenario = scenario
        self.openai_flavour = openai_flavour
        self.api_key = api_key
        self.openai_keepalive = openai_keepalive
        self.pace = pace
        self.host = host
        self.port = port
        self.scripts: dict[str, ScriptFactory] = dict(SCENARIOS)
        self.records: list[RequestRecord] = []
        # Installed and loaded models (models.py): pulls add, deletes remove, chats load.
        self.models = models.ModelState(
            lambda: [n for n in self.scripts if n not in ERROR_SCENARIOS]
        )
        self.tags_capabilities = True  # /api/tags sends `capabilities`, as v0.30.0 and later
        self._records_changed = trio.Event()
        self._pause_after: int | None = None
        self._released = trio.Event()
        self._paused = trio.Event()
        self._paused_record: RequestRecord | None = None
        self._connection_numbers = itertools.count(1)
        self._reply_numbers = itertools.count(1)
        self._started_ns = time.time_ns()
        self._bound_host: str | None = None

    # --- steering and inspection ----------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://ADDRESS:PORT` as bound once `serve` has started (0.0.0.0 -> 127.0.0.1)."""
        host = self._bound_host or self.host
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def chat_records(self) -> list[RequestRecord]:
        """Chat requests in either dialect (`/api/chat`, `/v1/chat/completions`), in order."""
        return [r for r in self.records if r.method == "POST" and r.path in CHAT_PATHS]

    @property
    def pause_after(self) -> int | None:
        return self._pause_after

    @pause_after.setter
    def pause_after(self, lines: int | None) -> None:
        # Streams already paused keep waiting for release(); None releases them.
        if lines is None:
            self._released.set()
        elif self._released.is_set():
            self._released = trio.Event()
        self._pause_after = lines
        self._paused = trio.Event()

    async def wait_paused(self) -> RequestRecord:
        """Wait until a chat stream has reached the pause point; return its record."""
        await self._paused.wait()
        assert self._paused_record is not None
        return self._paused_record

    def release(self) -> None:
        """Let paused streams go on; later streams pass the pause point until it is set again."""
        self._released.set()
        self._paused = trio.Event()

    async def wait_for_request(
        self, path: str | None = "/api/chat", count: int = 1
    ) -> RequestRecord:
        """Wait until `count` requests for `path` (None: any) have arrived; return the last."""
        while True:
            matching = [r for r in self.records if path is None or r.path == path]
            if len(matching) >= count:
                return matching[count - 1]
            await self._records_changed.wait()

    async def wait_for_chat(self, count: int = 1) -> RequestRecord:
        """Wait until `count` chat requests (either dialect) have arrived; return the last."""
        while True:
            chats = self.chat_records
            if len(chats) >= count:
                return chats[count - 1]
            await self._records_changed.wait()

    # --- serving --------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Serve in a nursery of its own for the duration of the block (inside trio).

        On exit the server stops listening and closes every connection.
        """
        async with trio.open_nursery() as nursery:
            await nursery.start(self.serve)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def serve(
        self, *, task_status: trio.TaskStatus[ScriptedOllama] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, report `started(self)` once `url` is valid, then serve until cancelled."""
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        try:
            if self.port == 0:  # a name like "localhost" gave one random port per address
                for extra in listeners[1:]:
                    await trio.aclose_forcefully(extra)
                listeners = listeners[:1]
            self._bound_host, self.port = listeners[0].socket.getsockname()[:2]
            logger.info("scripted Ollama listening on %s", self.url)
            task_status.started(self)
            await trio.serve_listeners(self._serve_connection, listeners)
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)

    async def _serve_connection(self, stream: trio.abc.Stream) -> None:
        conn = Connection(stream, next(self._connection_numbers))
        try:
            while True:
                try:
                    request = await conn.read_request()
                except h11.RemoteProtocolError as exc:
                    logger.warning("bad request on connection %d: %s", conn.number, exc)
                    await self._reject(conn)
                    return
                if request is None:
                    return
                record = self._record(conn, *request)
                if not await self._respond(conn, record):
                    return
                if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                    return
                conn.h11.start_next_cycle()
        finally:
            await trio.aclose_forcefully(stream)

    def _record(self, conn: Connection, request: h11.Request, body: bytes) -> RequestRecord:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        decoded = decode_json(body)
        model = decoded.get("model") if isinstance(decoded, dict) else None
        record = RequestRecord(
            method=request.method.decode("ascii"),
            path=request.target.decode("latin-1").partition("?")[0],
            headers=headers,
            body=body,
            json=decoded,
            model=model if isinstance(model, str) else None,
            received_at=time.monotonic(),
            connection=conn.number,
        )
        self.records.append(record)
        self._records_changed.set()
        self._records_changed = trio.Event()
        return record

    async def _respond(self, conn: Connection, record: RequestRecord) -> bool:
        """Play the response while watching for the client leaving; True to keep the connection."""
        responder = self._route(record)
        logger.info(
            "%s %s model=%s scenario=%s (connection %d)",
            record.method, record.path, record.model, record.scenario, conn.number,
        )
        keep_open = completed = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.watch_for_close, nursery.cancel_scope)
            try:
                keep_open = await responder(conn, record)
                completed = True
            except trio.BrokenResourceError:
                conn.peer_closed_at = time.monotonic()
            finally:
                nursery.cancel_scope.cancel()
        if completed:
            record._mark_finished()
            return keep_open and conn.peer_closed_at is None
        if conn.peer_closed_at is not None:
            record.disconnected_at = conn.peer_closed_at
            record.disconnected.set()
            logger.info(
                "client disconnected from %s %s after %d lines (connection %d)",
                record.method, record.path, record.lines_sent, conn.number,
            )
        return False

    async def _reject(self, conn: Connection) -> None:
        body = b"400 Bad Request"
        if conn.h11.our_state in {h11.IDLE, h11.SEND_RESPONSE}:
            try:
                head = response_head(400, _TEXT_UTF8, len(body), close=True)
                await conn.send([head, h11.Data(data=body), h11.EndOfMessage()])
            except (trio.BrokenResourceError, h11.LocalProtocolError):
                pass

    # --- routes ---------------------------------------------------------------------------

    def _route(self, record: RequestRecord) -> Responder:
        head = record.method == "HEAD"
        if record.path.startswith("/v1/"):
            return self._route_v1(record, head)
        if record.method in {"GET", "HEAD"}:
            if record.path == "/":
                return _fixed(200, _TEXT_UTF8, b"Ollama is running", head=head)
            if record.path == "/api/version":
                return _fixed(200, _JSON, go_json({"version": VERSION}), head=head)
            if record.path == "/api/tags":
                capabilities = self.models.capabilities() if self.tags_capabilities else None
                body = tags_body(
                    self._model_names(), modified_ns=self._started_ns, capabilities=capabilities
                )
                return _fixed(200, _JSON, body, head=head)
            if record.path == "/api/ps":
                return _fixed(200, _JSON, self.models.ps(), head=head)
        if record.method == "POST" and record.path == API_CHAT:
            return self._player(self._chat_script(record))
        if record.method == "POST" and record.path == "/api/show":
            return _fixed(*_json_answer(self.models.show(record.json)))
        if record.method == "POST" and record.path == "/api/pull":
            return self._player(self._pull_script(record))
        if record.method == "DELETE" and record.path == "/api/delete":
            status, body = self.models.delete(record.json)
            return _fixed(status, _JSON if body else _TEXT_UTF8, body)
        return _fixed(404, _TEXT, b"404 page not found")

    def _chat_script(self, record: RequestRecord) -> Script:
        """`/api/chat`: a stream, or one JSON object for `stream: false` or no messages
        (whole.py); an answer that succeeds loads (or unloads) the model (models.py)."""
        request = record.json
        script = whole.shape(self._script(record, request), request)
        if isinstance(request, dict) and script.status == 200 and record.model:
            if not request.get("messages") and models.is_unload(request):
                self.models.unload(record.model)
            else:
                self.models.load(record.model, request)
        if wants_logprobs(request) and isinstance(request, dict):
            script = with_logprobs(script, request)
        return script

    def _pull_script(self, record: RequestRecord) -> Script:
        name = models.model_field(record.json)
        if not name:
            return Script(status=400, body=error_body("model is required"))
        plan = self.models.pull(record.json)
        if isinstance(record.json, dict) and record.json.get("stream") is False:
            status, body = models.whole_pull(plan)
            if plan.installs:
                self.models.installed_by_pull(name)
            return Script(status=status, body=body)
        on_done = (lambda: self.models.installed_by_pull(name)) if plan.installs else None
        ending = "hang" if plan.hang else "done"
        return Script(lines=plan.lines, ending=ending, on_done=on_done)

    def _route_v1(self, record: RequestRecord, head: bool) -> Responder:
        flavour = self.openai_flavour
        if self.api_key is not None and record.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            return _fixed(401, _JSON, openai_wire.error_body(flavour, 401, "Invalid API Key"))
        if record.method in {"GET", "HEAD"} and record.path == V1_MODELS:
            body = openai_wire.models_body(
                flavour, self._model_names(), created=self._started_ns // 1_000_000_000
            )
            return _fixed(200, _JSON, body, head=head)
        if record.method != "POST" or record.path != V1_CHAT:
            return _fixed(404, _TEXT, b"404 page not found")
        request = ollama_request(record.json)
        script = self._script(record, request)
        problem = request_problem(flavour, record.json)
        if problem is not None:
            logger.warning("refusing the %s request: %s", record.path, problem[1])
            script = Script(status=problem[0], body=error_body(problem[1]))
        elif script.body is None and not request.get("stream"):
            message = "the scripted upstream streams only: send \"stream\": true"
            script = Script(status=400, body=error_body(message))
        options = openai_render.RenderOptions(
            flavour=flavour,
            model=record.model or "",
            reply_id=openai_wire.completion_id(flavour, next(self._reply_numbers)),
            include_usage=_include_usage(record.json),
            keepalive=self.openai_keepalive,
        )
        return self._player(openai_render.render(script, options))

    def _model_names(self) -> list[str]:
        return self.models.installed()

    def _script(self, record: RequestRecord, request: Any) -> Script:
        """The script a chat request gets; `request` is its body in the /api/chat shape."""
        if not record.body:
            return Script(status=400, body=error_body("missing request body"))
        if not isinstance(request, dict) or not isinstance(record.json, dict):
            return Script(
                status=400, body=error_body("invalid request body: expected a JSON object")
            )
        if self.scenario is not None:
            name: str | None = self.scenario
        elif not record.model:
            return Script(status=400, body=error_body("model is required"))
        elif self.models.is_deleted(record.model):
            name = "not-found"
        else:
            name = scenario_for_model(self.scripts, record.model)
            if name is None and self.models.is_pulled(record.model):
                name = "demo"  # a pulled model chats like the demo
            name = name or "not-found"
        record.scenario = name
        factory = self.scripts.get(name)
        if factory is None:
            logger.error("no scenario named %r", name)
            return Script(
                status=500, body=error_body(f"scripted Ollama has no scenario {name!r}")
            )
        try:
            return factory(request)
        except Exception as exc:
            logger.exception("scenario %r failed", name)
            return Script(status=500, body=error_body(f"scenario {name!r} failed: {exc!r}"))

    def _player(self, script: Script) -> Responder:
        async def play(conn: Connection, record: RequestRecord) -> bool:
            return await self._play(conn, record, script)

        return play

    # --- playing a script -----------------------------------------------------------------

    async def _play(self, conn: Connection, record: RequestRecord, script: Script) -> bool:
        """Send `script`; True if the connection may be reused.

        Cancellation: stops wherever it is (the client left, or the server is shutting down).
        """
        if script.first_delay > 0:
            await trio.sleep(script.first_delay)
        if script.body is not None:
            record._mark_finished()
            await conn.send(
                [
                    response_head(script.status, _JSON, len(script.body)),
                    h11.Data(data=script.body),
                    h11.EndOfMessage(),
                ]
            )
            return True
        pending: list[h11.Event] = [response_head(script.status, script.stream_type)]
        for index, line in enumerate(script.lines):
            await self._pause_point(record, index)
            if index:
                await self._pace(script)
            if index == len(script.lines) - 1 and script.on_done is not None:
                script.on_done()  # before the last line, as Ollama writes its manifest first
            await self._send_line(conn, pending, line, script.split_bytes)
            pending = []
            record.lines_sent += 1
        await self._pause_point(record, len(script.lines))
        if script.ending in {"done", "eof"}:
            record._mark_finished()
            await conn.send([*pending, h11.EndOfMessage()])
            return True
        if pending:
            await conn.send(pending)
        if script.ending == "hang":
            await trio.sleep_forever()
        return False  # "drop": the caller closes the socket without the terminating chunk

    async def _send_line(
        self, conn: Connection, pending: list[h11.Event], line: bytes, split: int | None
    ) -> None:
        if split is None:
            await conn.send([*pending, h11.Data(data=line)])
            return
        for start in range(0, len(line), split):
            if start:
                await trio.sleep(SPLIT_PIECE_GAP_S)
            await conn.send([*pending, h11.Data(data=line[start : start + split])])
            pending = []

    async def _pace(self, script: Script) -> None:
        pace = script.pace if script.pace is not None else self.pace
        if pace > 0:
            await trio.sleep(pace)

    async def _pause_point(self, record: RequestRecord, lines_sent: int) -> None:
        released = self._released
        if self._pause_after != lines_sent or released.is_set():
            return
        self._paused_record = record
        self._paused.set()
        logger.info("paused %s after %d lines", record.path, lines_sent)
        await released.wait()


def _include_usage(body: Any) -> bool:
    options = body.get("stream_options") if isinstance(body, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


def _json_answer(answer: tuple[int, bytes]) -> tuple[int, str, bytes]:
    return answer[0], _JSON, answer[1]


def _fixed(status: int, content_type: str, body: bytes, *, head: bool = False) -> Responder:
    """A responder that sends one complete non-streamed response (headers only for HEAD)."""

    async def respond(conn: Connection, record: RequestRecord) -> bool:
        events: list[h11.Event] = [response_head(status, content_type, len(body))]
        if not head:
            events.append(h11.Data(data=body))
        record._mark_finished()
        await conn.send([*events, h11.EndOfMessage()])
        return True

    return respond


@asynccontextmanager
async def open_scripted_ollama(
    scenario: str | None = None,
    pace: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 0,
    openai_flavour: str = openai_wire.DEFAULT_FLAVOUR,
    api_key: str | None = None,
    openai_keepalive: bool = True,
) -> AsyncIterator[ScriptedOllama]:
    """Serve a `ScriptedOllama` in a nursery of its own for the duration of the block.

    Must run inside trio. On exit the server stops listening and closes every connection.
    """
    server = ScriptedOllama(
        scenario=scenario, pace=pace, host=host, port=port, openai_flavour=openai_flavour,
        api_key=api_key, openai_keepalive=openai_keepalive,
    )
    async with server.running():
        yield server
