"""Test support: a real server in a subprocess, and small HTTP/WebSocket clients for it."""

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import websockets

from app.clock import clock
from app.config import Settings
from tests.inprocess import InProcessServer, http_client, ws_connect

__all__ = ["http_client", "ws_connect"]  # (tests import them from here too)

ROOT = Path(__file__).resolve().parent.parent

# Lets a test move the server's clock (POST /api/v1/testing/clock); never set in production.
TEST_HOOKS = {"BACKCHANNEL_TEST_HOOKS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def required(service: str) -> bool:
    """Is ``service`` listed in BACKCHANNEL_TEST_REQUIRE (CI sets it: skips become failures)?"""
    wanted = os.environ.get("BACKCHANNEL_TEST_REQUIRE", "")
    return service in {s.strip() for s in wanted.split(",")}


def skip_or_fail(service: str, reason: str) -> None:
    if required(service):
        pytest.fail(f"{service} is required here (BACKCHANNEL_TEST_REQUIRE) but {reason}")
    pytest.skip(f"{service} not available: {reason}")


# A server log record starts with its level (uvicorn's "ERROR:    …", the app's "ERROR     …").
_RECORD_START = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
_BAD_RECORD = re.compile(r"^(ERROR|CRITICAL)\b|Traceback \(most recent call last\)", re.M)


def server_log_problems(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The records of a server log that are errors or tracebacks, less the ``allowed`` ones.

    A record is a line that starts with a level and every line up to the next such line (a
    traceback belongs to the record that logged it). ``allowed`` are regular expressions
    searched in the whole record.
    """
    records: list[list[str]] = []
    for line in text.splitlines():
        if _RECORD_START.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    bad = ["\n".join(r) for r in records if _BAD_RECORD.search("\n".join(r))]
    return [r for r in bad if not any(re.search(p, r) for p in allowed)]


class Server:
    """``backchannel serve`` on a free port, as a child process."""

    #: Every server started in this test process (the conftest checks their logs).
    started: ClassVar[list["Server"]] = []

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        broker_url: str = "memory://",
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'test.db'}"
        self.broker_url = broker_url
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"
        self.extra_args: list[str] = []  # more `backchannel serve` options, e.g. --workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def env(self) -> dict[str, str]:
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

    def start(self, timeout: float = 60) -> "Server":
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        if self not in Server.started:
            Server.started.append(self)
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "app", "serve", "--host", "127.0.0.1"),
                *("--port", str(self.port), *self.extra_args),
            ],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()  # not left running behind a failed test
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing — a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log_text(self, start: int = 0) -> str:
        """The server's log (from byte ``start``)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0


class Api:
    """Tiny async HTTP client for the /api/v1 endpoints (of a real or an in-process server)."""

    def __init__(self, base_url: str) -> None:
        self.http = http_client(base_url, timeout=15)

    async def close(self) -> None:
        await self.http.aclose()

    async def create_session(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"title": "Test class"}
        body.update(fields)
        r = await self.http.post("/api/v1/sessions", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def events(self, session_id: str, token: str, after: int = 0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            r = await self.http.get(
                f"/api/v1/sessions/{session_id}/events",
                params={"after": after, "limit": 1000},
                headers=self.auth(token),
            )
            assert r.status_code == 200, r.text
            page = r.json()["events"]
            out.extend(page)
            if len(page) < 1000:
                return out
            after = page[-1]["seq"]


class Client:
    """A protocol-speaking WebSocket client that records every event it receives (from a
    real server, or an in-process one: ``ws_connect`` tells them by the URL)."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.ws: Any = None
        self.welcome: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.sent: dict[str, int] = {}
        self._waiters: list[tuple[Any, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    async def connect(self, since: int | None = None, **kwargs: Any) -> dict[str, Any]:
        self.ws = await ws_connect(self.ws_url, max_size=2**22, **kwargs)
        await self.ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": self.token,
                    "since": self.last_seq if since is None else since,
                }
            )
        )
        self.welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert self.welcome["type"] == "welcome", self.welcome
        self._reader = asyncio.create_task(self._read())
        return self.welcome

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                if frame["type"] == "event":
                    self.events.append(frame["event"])
                elif frame["type"] == "sent":
                    self.sent[frame["id"]] = frame["seq"]
                for match, fut in list(self._waiters):
                    if not fut.done() and match(frame):
                        fut.set_result(frame)
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
            self.close_reason = exc.rcvd.reason if exc.rcvd else None
        finally:
            for _, fut in self._waiters:
                if not fut.done():
                    fut.set_exception(ConnectionError(f"closed ({self.close_code})"))

    async def wait_for(self, match: Any, timeout: float = 10) -> dict[str, Any]:
        for frame in self.frames:
            if match(frame):
                return frame
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove((match, fut))

    async def send(
        self, kind: str, body: dict[str, Any] | None = None, id: str | None = None
    ) -> dict[str, Any]:
        """Send and wait for the reply to this id (``sent`` or ``error``)."""
        event_id = id or str(uuid.uuid4())
        n = len(self.frames)
        await self.ws.send(
            json.dumps({"type": "send", "id": event_id, "kind": kind, "body": body or {}})
        )
        return await self.wait_for(
            lambda f: (
                f.get("id") == event_id
                and f["type"] in ("sent", "error")
                and self.frames.index(f) >= n
            )
        )

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def wait_seq(self, seq: int, timeout: float = 15) -> None:
        await self.wait_for(lambda f: f["type"] == "event" and f["event"]["seq"] >= seq, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader, 5)

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a Wi-Fi drop)."""
        if self.ws is not None:
            self.ws.transport.abort()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.ws.wait_closed(), 5)  # the server saw it go
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader, 5)


# The presence grace a server has unless told otherwise.
GRACE_S = float(Settings.model_fields["presence_grace_s"].default)


def movable(server: Any) -> bool:
    """Can a test move this server's clock? In process always; a real process if it runs
    with the test hooks (``POST /api/v1/_test/clock``)."""
    if isinstance(server, InProcessServer):
        return True
    return getattr(server, "extra_env", {}).get("BACKCHANNEL_TEST_HOOKS") == "1"


async def let_time_pass(*servers: Any, seconds: float) -> None:
    """``seconds`` go by for the servers: moved on their clocks, all alike, when each runs in
    process or with the test hooks (no wait), else waited for (its timers run on its own
    clock). A test moves real processes' clocks alike, or their Redis timers disagree."""
    # (A server that stands for several processes lists them in ``processes``.)
    servers = tuple(p for s in servers for p in (getattr(s, "processes", None) or (s,)))
    # A real process's clock is moved by a request each: a short wait is cheaper waited.
    real = any(not isinstance(s, InProcessServer) for s in servers)
    if not all(movable(s) for s in servers) or (real and seconds < 1):
        await asyncio.sleep(seconds)
        return
    if any(isinstance(s, InProcessServer) for s in servers):
        clock.advance(seconds)
        await asyncio.sleep(0)
    for server in servers:
        if not isinstance(server, InProcessServer):
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                r = await http.post("/api/v1/_test/clock", json={"advance_s": seconds})
                assert r.status_code == 200, r.text


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


# -- scale-out services: a PostgreSQL database and Redis servers of the test's own --------

PG_ADMIN_DSN = os.environ.get("BACKCHANNEL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SHARED_REDIS = os.environ.get("BACKCHANNEL_TEST_REDIS", "redis://127.0.0.1:6379")


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run_sync(coro: Any) -> None:
    """asyncio.run, also from inside a running loop (on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


_pg_template: str | None = None


def _migrated_pg_template() -> str:
    """A PostgreSQL database at the latest schema, migrated once per test process (and
    dropped at its exit): fresh databases are copied from it (CREATE DATABASE … TEMPLATE)."""
    global _pg_template
    if _pg_template is None:
        import atexit
        import concurrent.futures

        from app.cli import run_migrations

        name = f"bc_template_{uuid.uuid4().hex[:12]}"
        _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
        atexit.register(_run_sync, _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # alembic runs its own loop
            pool.submit(run_migrations, _pg_url(name)).result()
        _pg_template = name
    return _pg_template


@contextlib.contextmanager
def postgres_database(migrated: bool = False) -> Any:
    """A fresh PostgreSQL database for one test (dropped after): yields its URL. Empty, or
    ``migrated`` (a copy of a template migrated once, for servers that do not migrate)."""
    name = f"bc_test_{uuid.uuid4().hex[:12]}"
    try:
        template = f' TEMPLATE "{_migrated_pg_template()}"' if migrated else ""
        _run_sync(_pg_admin(f'CREATE DATABASE "{name}"{template}'))
    except Exception as exc:
        skip_or_fail("postgres", f"cannot create a database at {PG_ADMIN_DSN}: {exc!r}")
    try:
        yield _pg_url(name)
    finally:
        _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def shared_redis_url() -> str:
    """The shared Redis, on a database index of its own per xdist worker.

    (Pub/sub channels ignore the index, but they are named after random session ids.)
    """
    import redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 1 + int("".join(c for c in worker if c.isdigit()) or 0) % 15
    url = f"{SHARED_REDIS}/{index}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        skip_or_fail("redis", f"cannot reach {SHARED_REDIS}: {exc!r}")
    return url


class RedisServer:
    """A private ``redis-server`` on a free port (no persistence), to stop and restart."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "RedisServer":
        import shutil

        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis", "no redis-server binary to start a private server")
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [
                str(binary),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start:\n{self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def fake_participant(role: str = "producer") -> Any:
    """A participant that exists only in memory, for in-process tests of one piece."""
    from app.models import Participant

    return Participant(
        id="p_test",
        session_id="s_test",
        role=role,
        name=role.capitalize(),
        token_hash="0" * 64,
        created_ms=0,
    )
