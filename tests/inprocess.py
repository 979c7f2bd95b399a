"""The app in the test's own event loop: HTTP and WebSockets without a socket or a process.

``InProcessServer`` runs ``create_app(Settings(...))`` with its lifespan in the test's loop,
on a database of its own (SQLite: a copy of a file migrated once per worker; PostgreSQL: a
database made from a template migrated once). It has a URL like a real server's,
``http://inprocess-3.test``: ``Api`` and ``Client`` (tests/support.py) look that host up
here and talk to the app through httpx's ``ASGITransport`` (HTTP) and ``InProcessSocket``
(WebSockets) instead of the network. Its log is what the process logged while it ran, so
the conftest's guard reads it like a real server's.

``InProcessSocket`` speaks ASGI directly and behaves like uvicorn's websockets protocol
towards the app (the close handshake, a send after the peer left, the 403 of a socket
closed before its accept, a crashed app) and like a ``websockets`` client towards the test
(``send``, ``recv``, ``async for``, ``close``, ``transport.abort()``, and the same
``ConnectionClosed`` exceptions with the close frame received in ``rcvd``). Frames pass as
ASGI messages, unencoded. (httpx-ws's ``ASGIWebSocketTransport`` was weighed and left: its
sessions and transport are anyio task groups that must be entered and left by one task,
which a ``Client``'s connect and close, or a fixture's setup and teardown, are not; two
handshakes at once share its ``scope``; it cannot drop a connection without a close frame;
and every frame went through two wsproto codecs for nothing.)

What stays for a real server (tests/support.py ``Server``): kill -9 and SIGTERM, several
processes, uvicorn's own limits (frame size, non-UTF-8 text) and the transport extensions
(``app.realtime.transport``: write-now and abort, slow peers at the TCP level).
"""

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from app.config import Settings

Message = dict[str, Any]

_serial = itertools.count(1)
_uvicorn_log = logging.getLogger("uvicorn.error")


# -- databases migrated once -------------------------------------------------------------

_template_dir: Path | None = None
_sqlite_template: Path | None = None


def _off_the_loop(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a thread of its own (alembic runs its own event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def sqlite_template() -> Path:
    """An empty SQLite database at the latest schema, migrated once per test process."""
    global _template_dir, _sqlite_template
    if _sqlite_template is None:
        from app.cli import run_migrations

        _template_dir = Path(tempfile.mkdtemp(prefix="bc-template-"))
        atexit.register(shutil.rmtree, _template_dir, True)
        path = _template_dir / "template.db"
        _off_the_loop(lambda: run_migrations(f"sqlite+aiosqlite:///{path}"))
        _sqlite_template = path
    return _sqlite_template


def fresh_sqlite(path: Path) -> str:
    """A copy of the migrated template at ``path``: its URL."""
    shutil.copyfile(sqlite_template(), path)
    return f"sqlite+aiosqlite:///{path}"


# -- the log -----------------------------------------------------------------------------


class _Records(logging.Handler):
    """What the process logs (WARNING and up) while an in-process server runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is still a record
            self.lines.append(f"{record.levelname} {record.name}: {record.msg!r}")


# -- the server --------------------------------------------------------------------------


class InProcessServer:
    """``create_app`` in this event loop, reachable at ``self.url`` through tests/support.py."""

    #: Running in-process servers by host (Api and Client look their URL up here).
    by_host: ClassVar[dict[str, "InProcessServer"]] = {}
    #: Every one started in this test process (the conftest checks their logs).
    started: ClassVar[list["InProcessServer"]] = []

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        broker_url: str = "memory://",
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.host = f"inprocess-{next(_serial)}.test"
        self.database_url = database_url or fresh_sqlite(workdir / f"{self.host}.db")
        self.broker_url = broker_url
        self.extra_env = dict(env or {})
        self.app: Any = None
        self.running = False
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None
        self._records = _Records()
        self.sockets: set[InProcessSocket] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}/ws"

    def env(self) -> dict[str, str]:
        """The environment a real server would have (for the CLI run against its database)."""
        import os

        env = dict(os.environ)
        env.update(
            {
                "BACKCHANNEL_DATABASE_URL": self.database_url,
                "BACKCHANNEL_BROKER_URL": self.broker_url,
                "BACKCHANNEL_PUBLIC_URL": self.url,
                "BACKCHANNEL_LOG_LEVEL": "warning",
            }
        )
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        """What a real server would read from its environment (``Server.env``)."""
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "broker_url": self.broker_url,
            "public_url": self.url,
            "log_level": "warning",
            # gc.freeze() in the test process would keep every test's garbage for good.
            "gc_freeze": False,
        }
        for key, value in self.extra_env.items():
            values[key.removeprefix("BACKCHANNEL_").lower()] = value
        return Settings(**values)

    async def start(self) -> "InProcessServer":
        from app.main import create_app

        if self not in InProcessServer.started:
            InProcessServer.started.append(self)
        logging.getLogger().addHandler(self._records)
        self.app = create_app(self.settings())
        self._lifespan = self.app.router.lifespan_context(self.app)
        try:
            await self._lifespan.__aenter__()
        except BaseException:
            logging.getLogger().removeHandler(self._records)
            raise
        InProcessServer.by_host[self.host] = self
        self.running = True
        scheduler = self.services.scheduler
        if scheduler is not None:
            # Its first scan done: no query of it is left in flight when a quick test ends.
            await scheduler.poke()
        return self

    async def stop(self) -> None:
        """As uvicorn on SIGTERM: close the sockets (1012), then run the lifespan's end."""
        if not self.running:
            return
        self.running = False
        for sock in list(self.sockets):
            await sock.server_going_away()
        InProcessServer.by_host.pop(self.host, None)
        try:
            assert self._lifespan is not None
            await self._lifespan.__aexit__(None, None, None)
        finally:
            logging.getLogger().removeHandler(self._records)

    @property
    def services(self) -> Any:
        """The running app's ``Services`` (hub, presence, scheduler…), for tests that look."""
        return self.app.state.services

    async def asgi(self, scope: Message, receive: Any, send: Any) -> None:
        """The app, with an error escaping it logged as uvicorn logs it."""
        try:
            await self.app(scope, receive, send)
        except Exception:
            _uvicorn_log.exception("Exception in ASGI application\n")
            raise

    def log_text(self, start: int = 0) -> str:
        """What was logged while it ran (from record ``start``), one record per entry."""
        return "\n".join(self._records.lines[start:])

    def log_size(self) -> int:
        return len(self._records.lines)


@contextlib.asynccontextmanager
async def running(server: InProcessServer) -> AsyncIterator[InProcessServer]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def lookup(url: str) -> InProcessServer | None:
    """The running in-process server a URL points at, if any."""
    return InProcessServer.by_host.get(urlsplit(url).netloc)


def http_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client for ``base_url``: through the app itself when it runs in process."""
    server = lookup(base_url)
    if server is not None:
        kwargs["transport"] = httpx.ASGITransport(
            app=server.asgi, raise_app_exceptions=False, client=("127.0.0.1", 50000)
        )
    return httpx.AsyncClient(base_url=base_url, **kwargs)


# -- WebSockets --------------------------------------------------------------------------


class ClientDisconnected(OSError):
    """What uvicorn raises to an app that sends on a socket whose peer left."""


_CLOSED = object()  # what the reader gets once the connection is over
OK_CODES = (1000, 1001)


class _Transport:
    def __init__(self, sock: "InProcessSocket") -> None:
        self._sock = sock

    def abort(self) -> None:
        self._sock.drop()


class InProcessSocket:
    """One WebSocket between the test (a ``websockets``-like client) and the in-process app."""

    def __init__(self, server: InProcessServer, path: str, headers: list[tuple[str, str]]):
        self.server = server
        self.path = path
        self.headers = headers
        self.rcvd: Close | None = None  # the close frame the server sent
        self.sent: Close | None = None  # the close frame this client sent
        self.transport = _Transport(self)
        #: Called with every frame at the moment the app sends it (before the test sees it).
        self.on_server_frame: Callable[[str | bytes], None] | None = None
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._frames: asyncio.Queue[Any] = asyncio.Queue()
        self._handshake: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._accepted = False
        self._close_sent = False  # by the app
        self._gone = False  # the client closed or dropped the connection
        self._server_closed = False  # the closing handshake started on the server's side
        self._over = False
        self._task: asyncio.Task[None] | None = None

    # -- the app's side (what uvicorn does) ---------------------------------------------

    def _scope(self) -> Message:
        path, _, query = self.path.partition("?")
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": (self.server.host, 80),
            "client": ("127.0.0.1", 50000 + next(_serial) % 10000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [
                (b"host", self.server.host.encode()),
                (b"upgrade", b"websocket"),
                (b"connection", b"Upgrade"),
                (b"sec-websocket-version", b"13"),
                *((k.lower().encode(), v.encode()) for k, v in self.headers),
            ],
            "subprotocols": [],
            "state": {},
            "extensions": {},
        }

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if not self._accepted and not self._handshake.done():
            if kind not in ("websocket.accept", "websocket.close"):
                raise RuntimeError(
                    f"Expected 'websocket.accept' or 'websocket.close', got {kind!r}"
                )
            if kind == "websocket.accept":
                self._accepted = True
            else:  # closed before its accept: uvicorn answers the handshake with 403
                self._close_sent = True
                self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self._handshake.set_result(message)
            return
        if self._close_sent:
            raise RuntimeError(
                f"Unexpected ASGI message {kind!r}, after sending 'websocket.close'."
            )
        if self._gone:
            raise ClientDisconnected()
        if kind == "websocket.send":
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
            if self.on_server_frame is not None:
                self.on_server_frame(data)
            self._frames.put_nowait(data)
        elif kind == "websocket.close":
            code = message.get("code", 1000)
            reason = message.get("reason") or ""
            self._close_sent = True
            self._server_closed = not self._gone
            self.rcvd = Close(code, reason)
            self.sent = Close(code, reason)  # the client answers with the same code
            self._to_app.put_nowait(
                {"type": "websocket.disconnect", "code": code, "reason": reason}
            )
            self._end()
        else:
            raise RuntimeError(f"Expected 'websocket.send' or 'websocket.close', got {kind!r}")

    async def _run(self) -> None:
        try:
            await self.server.asgi(self._scope(), self._receive, self._send)
        except ClientDisconnected:
            pass
        except BaseException as exc:  # logged by server.asgi, as uvicorn does
            if not self._handshake.done():
                self._handshake.set_exception(_rejected(500))
            if not isinstance(exc, Exception):
                raise
        else:
            if not self._handshake.done():
                _uvicorn_log.error("ASGI callable returned without completing handshake.")
                self._handshake.set_exception(_rejected(500))
        finally:
            self.server.sockets.discard(self)
            self._end()  # the transport closes: a peer with no close frame sees 1006

    async def open(self, timeout: float = 10) -> "InProcessSocket":
        self.server.sockets.add(self)
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._task = asyncio.create_task(self._run(), name=f"asgi-ws {self.server.host}")
        message = await asyncio.wait_for(asyncio.shield(self._handshake), timeout)
        if message["type"] == "websocket.close":
            raise _rejected(403)
        return self

    async def server_going_away(self) -> None:
        """The server shuts down: uvicorn closes open sockets with 1012, then waits for the app."""
        if not self._over and self._accepted and not self._close_sent:
            self._gone = True
            self._server_closed = True
            self.rcvd = self.sent = Close(1012, "")
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1012})
            self._end()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._task), 5)

    def _end(self) -> None:
        if not self._over:
            self._over = True
            self._frames.put_nowait(_CLOSED)

    # -- the client's side (what a websockets client does) ------------------------------

    def _closed_exception(self) -> Exception:
        ok = (
            self.rcvd is not None
            and self.sent is not None
            and self.rcvd.code in OK_CODES
            and self.sent.code in OK_CODES
        )
        cls = ConnectionClosedOK if ok else ConnectionClosedError
        both = self.rcvd is not None and self.sent is not None
        return cls(self.rcvd, self.sent, self._server_closed if both else None)

    async def send(self, data: str | bytes) -> None:
        if self._over or self._gone:
            raise self._closed_exception()
        key = "bytes" if isinstance(data, bytes | bytearray | memoryview) else "text"
        self._to_app.put_nowait({"type": "websocket.receive", key: data})
        await asyncio.sleep(0)  # like a write to a socket: the app may run now

    async def recv(self) -> str | bytes:
        frame = await self._frames.get()
        if frame is _CLOSED:
            self._frames.put_nowait(_CLOSED)  # every later recv sees the close too
            raise self._closed_exception()
        data: str | bytes = frame
        return data

    def __aiter__(self) -> "InProcessSocket":
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """The closing handshake from this side: the app hears ``websocket.disconnect``.
        Returns once the app is done with the socket (presence counted it out), as a
        client's close returns once the server answered, so a test can move the clock
        past the grace right after."""
        if not self._over and not self._gone:
            self._gone = True
            self.sent = Close(code, reason)
            self.rcvd = Close(code, reason)  # the server answers with the same code
            self._to_app.put_nowait(
                {"type": "websocket.disconnect", "code": code, "reason": reason}
            )
            self._end()
        await self.wait_closed()

    def drop(self) -> None:
        """The connection is gone without a closing handshake (a Wi-Fi drop): 1006."""
        if not self._over and not self._gone:
            self._gone = True
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self._end()

    async def wait_closed(self, timeout: float = 10) -> None:
        """Until the app is done with the socket."""
        if self._task is not None and self._task is not asyncio.current_task():
            with contextlib.suppress(Exception):  # the app's own errors are logged
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    @property
    def close_code(self) -> int | None:
        return self.rcvd.code if self.rcvd is not None else (1006 if self._over else None)

    async def __aenter__(self) -> "InProcessSocket":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _rejected(status: int) -> InvalidStatus:
    """The handshake's refusal, as a websockets client reports it."""
    phrase = {403: "Forbidden", 500: "Internal Server Error"}.get(status, "")
    return InvalidStatus(Response(status, phrase, Headers()))


def _headers(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """The handshake headers a ``websockets.connect(...)`` call would send."""
    headers: list[tuple[str, str]] = []
    if kwargs.get("origin"):
        headers.append(("origin", str(kwargs["origin"])))
    extra = kwargs.get("additional_headers") or {}
    items = extra.items() if hasattr(extra, "items") else extra
    headers.extend((str(k), str(v)) for k, v in items)
    return headers


class _Connecting:
    """What ``websockets.connect`` returns: awaited, or used as ``async with``."""

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self.url = url
        self.kwargs = kwargs
        self.sock: Any = None

    async def _open(self) -> Any:
        server = lookup(self.url)
        if server is None:
            import websockets

            return await websockets.connect(self.url, **self.kwargs)
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return await InProcessSocket(server, path, _headers(self.kwargs)).open()

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> Any:
        self.sock = await self._open()
        return self.sock

    async def __aexit__(self, *exc: object) -> None:
        await self.sock.close()


def ws_connect(url: str, **kwargs: Any) -> _Connecting:
    """``websockets.connect(url, **kwargs)``, or the same in process when ``url`` is one."""
    return _Connecting(url, kwargs)
