"""The servers under test, each started fresh for one scenario: Backchannel, floor, Socket.IO."""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.limits import raise_nofile

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / ".node"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()[-2000:]}")


class Target:
    """A server process (tree) on 127.0.0.1 that the load generator can drive."""

    name = "target"
    dialect = "json"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{self.name}-{self.port}.log"
        self._spawned: tuple[list[str], dict[str, str] | None] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self._spawned = (cmd, env)
        out = open(self.log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,  # the child inherits the raised fd limit
        )

    def start(self) -> None:
        raise NotImplementedError

    async def create_sessions(self, n: int) -> list[dict[str, Any]]:
        """Relays have no HTTP API: a session exists once a token names it."""
        return [
            {
                "sid": f"s{i}",
                "tokens": {r: f"s{i}:{r}" for r in ("producer", "facilitator", "observer")},
            }
            for i in range(n)
        ]

    def kill(self) -> None:
        """SIGKILL the server's processes: a crash, no shutdown work (``bench.connect
        --restart``)."""
        for p in reversed(self.processes()):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        if self.proc is not None:
            self.proc.wait(15)

    def respawn(self) -> None:
        """Start the same command again (same port, same database); it is ready once its
        port takes connections (uvicorn listens once the app has started)."""
        assert self._spawned is not None
        self._spawn(*self._spawned)

    def listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.listening():
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start")

    def processes(self) -> list[psutil.Process]:
        """The server's process and its children (uvicorn workers)."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                for p in self.processes():
                    p.kill()
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Floor(Target):
    name = "floor"

    def start(self) -> None:
        self._spawn([sys.executable, "-m", "bench.floor", "--port", str(self.port)])
        self.wait_ready()


def ensure_socketio() -> bool:
    """Install socket.io (server and client) from npm into bench/.node when missing."""
    if (NODE_DIR / "node_modules" / "socket.io").exists():
        return True
    if shutil.which("npm") is None or shutil.which("node") is None:
        return False
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(NODE_DIR),
            "--no-audit",
            "--no-fund",
            "socket.io",
            "socket.io-client",
        ],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


class SocketIO(Target):
    name = "socketio"
    dialect = "sio"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def start(self) -> None:
        self._spawn(["node", str(ROOT / "bench" / "socketio_relay.js"), str(self.port)])
        assert self.proc is not None
        _wait_http(
            f"http://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=polling", self.proc, self.log
        )


class Backchannel(Target):
    name = "backchannel"

    def __init__(
        self,
        workdir: Path,
        *,
        db: str = "sqlite",
        broker: str = "memory",
        workers: int = 1,
        env: dict[str, str] | None = None,
        app_root: Path | None = None,
    ) -> None:
        super().__init__(workdir)
        self.app_root = app_root
        self.db = db
        self.broker = broker
        self.workers = workers
        self.extra_env = env or {}
        self.pg_name: str | None = None

    @property
    def label(self) -> str:
        w = f" x{self.workers}" if self.workers > 1 else ""
        return f"backchannel {self.db}/{self.broker}{w}"

    def database_url(self) -> str:
        if self.db == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / f'bench-{self.port}.db'}"
        self.pg_name = f"bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{self.pg_name}"'))
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"

    def start(self) -> None:
        env = {
            "BACKCHANNEL_DATABASE_URL": self.database_url(),
            "BACKCHANNEL_BROKER_URL": "memory://" if self.broker == "memory" else REDIS_URL,
            "BACKCHANNEL_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "BACKCHANNEL_LOG_LEVEL": "warning",
            "BACKCHANNEL_RATE_PER_S": "1000",
            "BACKCHANNEL_RATE_BURST": "1000",
            # The harness creates and connects thousands at once, from one address.
            "BACKCHANNEL_CREATE_PER_MIN": "1000000",
            "BACKCHANNEL_PRE_HELLO_MAX": "1000000",
            "BACKCHANNEL_PRE_HELLO_PER_ADDRESS": "1000000",
            "BACKCHANNEL_SOCKETS_PER_ADDRESS": "1000000",
            **self.extra_env,
        }
        if self.app_root is not None:
            # Serve another checkout's ``app`` (a before/after run): PYTHONPATH comes before
            # the editable install's finder.
            env["PYTHONPATH"] = str(self.app_root)
        cmd = [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        self._spawn(cmd, env)
        self.wait_ready()

    def wait_ready(self) -> None:
        assert self.proc is not None
        _wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc, self.log)

    async def create_sessions(self, n: int) -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(16)
        base = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:

            async def one(i: int) -> dict[str, Any]:
                async with limit:
                    r = await http.post("/api/v1/sessions", json={"title": f"bench {i}"})
                    r.raise_for_status()
                    data = r.json()
                    return {"sid": data["session"]["id"], "tokens": data["tokens"]}

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    def stop(self) -> None:
        super().stop()
        if self.pg_name is not None:
            try:
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            except Exception as exc:  # leave it; say so
                print(f"could not drop {self.pg_name}: {exc}", file=sys.stderr)
            self.pg_name = None


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
        return True
    except Exception:
        return False


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False
