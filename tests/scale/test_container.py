"""The container recipe runs what the tests run: Dockerfile CMD and HEALTHCHECK, the compose
services, and the nginx load balancer config in front of two real server processes."""

import asyncio
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.scale.conftest import Cluster
from tests.scale.test_cluster import assert_stream
from tests.support import ROOT, Api, Client, free_port, seqs, server_log_problems, skip_or_fail


def dockerfile() -> dict[str, Any]:
    """The instructions of ./Dockerfile (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, Any] = {"ENV": [], "RUN": []}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op in ("ENV", "RUN"):
            out[op].append(rest)
        else:
            out[op] = rest
    return out


def exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list), "use the exec form ([...]): no shell in between"
    return [str(v) for v in value]


def test_the_image_is_slim_non_root_and_installs_the_locked_dependencies_then_the_package() -> None:
    d = dockerfile()
    assert d["FROM"] == "python:3.11-slim"
    assert d["USER"] not in ("root", "0")
    runs = [" ".join(run.split()) for run in d["RUN"]]
    locked = runs.index("pip install --require-hashes -r requirements.lock")
    package = next(i for i, run in enumerate(runs) if run.startswith("pip install --no-deps ."))
    assert locked < package, "the lock first: the package resolves nothing of its own"
    assert exec_form(d["CMD"]) == ["backchannel", "serve", "--host", "0.0.0.0"]


# What the extras asked for in pyproject.toml install (on Linux, CPython 3.11).
EXTRAS = {
    ("uvicorn", "standard"): ["uvloop", "httptools", "watchfiles", "websockets", "python-dotenv"],
    ("sqlalchemy", "asyncio"): ["greenlet"],
}


def _requirements(lines: list[str]) -> list[Requirement]:
    return [Requirement(line) for line in lines]


def test_the_lock_pins_every_dependency_within_its_bounds_with_hashes() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[Version, str]] = {}
    for block in text.replace("\\\n", " ").splitlines():
        block = block.strip()
        if not block or block.startswith("#"):
            continue
        spec, _, hashes = block.partition(" --hash=")
        req = Requirement(spec.strip())
        assert hashes, f"{req.name} has no hash"
        (pinned,) = req.specifier
        assert pinned.operator == "==", block
        pins[canonicalize_name(req.name)] = (Version(pinned.version), str(req.marker or ""))
    env = {"python_version": "3.11", "python_full_version": "3.11.9", "sys_platform": "linux"}
    for req in _requirements(config["project"]["dependencies"]):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(pins[name][0]), f"{req.name} {pins[name][0]} vs {req}"
        for extra in req.extras:  # what the extras bring is locked as well
            assert set(EXTRAS[name, extra]) <= set(pins), f"{req.name}[{extra}]"


class Installed:
    """The built wheel installed into a fresh virtualenv of its own."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.bin = venv / "bin"

    def python(self, code: str, cwd: Path) -> str:
        out = subprocess.run(
            [str(self.bin / "python"), "-c", code],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """``pip wheel . --no-deps``, installed with --no-deps into a new venv.

    The dependencies come from this interpreter's site-packages, added *after* the venv's
    own (a .pth line: the editable install's finder there is not run), so ``app`` can only
    be imported from the wheel.
    """
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", str(ROOT), "--no-deps", "-w", str(dist)], check=True)
    (wheel,) = dist.glob("backchannel-*.whl")
    venv = root / "venv"
    # No pip of its own (3 s of the setup): this pip installs into it.
    venv_python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [*pip, "--python", venv_python, "install", "--no-deps", str(wheel)], check=True, timeout=120
    )
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Installed(venv)


def test_the_installed_wheel_carries_every_page_and_migration(
    installed: Installed, tmp_path: Path
) -> None:
    where = json.loads(
        installed.python(
            "import json, app, app.api.pages as p, app.cli as c; print(json.dumps("
            "[app.__file__, str(p.WEB_DIR), str(c.MIGRATIONS_DIR)]))",
            cwd=tmp_path,
        )
    )
    package = Path(where[0]).parent
    assert package.is_relative_to(installed.venv), f"app imported from {package}, not the wheel"
    web, migrations = Path(where[1]), Path(where[2])
    for source, target in ((ROOT / "web", web), (ROOT / "alembic", migrations)):
        assert target.is_relative_to(package), target
        wanted = {
            str(f.relative_to(source))
            for f in source.rglob("*")
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".md"
        }
        shipped = {str(f.relative_to(target)) for f in target.rglob("*") if f.is_file()}
        assert wanted and wanted <= shipped, sorted(wanted - shipped)


def test_the_installed_wheel_migrates_a_database_and_serves_the_pages(
    installed: Installed, tmp_path: Path
) -> None:
    """The image's CMD and HEALTHCHECK word for word, run from the installed wheel."""
    d = dockerfile()
    cmd = exec_form(d["CMD"])
    health = exec_form(d["HEALTHCHECK"].split("CMD", 1)[1].strip())
    port = free_port()
    db_path = tmp_path / "image.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(
        {
            "BACKCHANNEL_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "BACKCHANNEL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PORT": str(port),
            "PATH": f"{installed.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    migrated = subprocess.run(
        ["backchannel", "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "sessions", "participants", "events"} <= tables
    # The image's command word for word; only the address differs (tests stay on loopback).
    argv = [*cmd, "--host", "127.0.0.1", "--port", str(port)]
    log = open(tmp_path / "image.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(health, env=env, capture_output=True).returncode != 0:
            assert proc.poll() is None, (tmp_path / "image.log").read_text()
            assert time.monotonic() < deadline, "healthcheck never passed"
            time.sleep(0.3)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
        script = httpx.get(f"http://127.0.0.1:{port}/static/client.js", timeout=5)
        assert script.status_code == 200
        assert script.text == (ROOT / "web" / "client.js").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        log.close()
    assert subprocess.run(health, env=env, capture_output=True).returncode != 0
    assert server_log_problems((tmp_path / "image.log").read_text()) == []


def test_compose_runs_two_replicas_of_the_image_on_postgres_and_redis_behind_nginx() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    apps = [s for s in services.values() if s.get("build") == "." and "command" not in s]
    assert len(apps) == 2, "two replicas running the image's own CMD"
    for app in apps:
        env = app["environment"]
        assert env["BACKCHANNEL_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["BACKCHANNEL_BROKER_URL"].startswith("redis://")
    assert services["migrate"]["command"] == ["backchannel", "migrate"]
    assert services["postgres"]["image"].startswith("postgres")
    assert services["redis"]["image"].startswith("redis")
    lb = services["lb"]
    assert lb["image"].startswith("nginx")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    names = [n for n, s in services.items() if s in apps]
    for name in names:
        assert f"server {name}:8000" in conf


def nginx_conf_for(tmp_path: Path, listen: int, backends: list[int]) -> Path:
    """deploy/nginx.conf with the compose host names replaced by local ports."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for i, port in enumerate(backends, start=1):
        assert f"server app{i}:8000" in conf
        conf = conf.replace(f"server app{i}:8000", f"server 127.0.0.1:{port}")
    assert "listen 8080;" in conf
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp_path / 'nginx.pid'};")
    conf = conf.replace("worker_processes auto;", "worker_processes 1;")
    if os.geteuid() == 0:
        conf = "user root;\n" + conf  # workers must reach the test's temp directory
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    (tmp_path / "logs").mkdir(exist_ok=True)
    return path


async def ensure_live(c: Client) -> None:
    """A socket that still answers a ping stays; a dropped one resumes from its last seq."""
    token = f"live-{id(c)}-{time.monotonic()}"
    try:
        await c.send_raw(json.dumps({"type": "ping", "t": token}))
        await c.wait_for(lambda f: f["type"] == "pong" and f.get("t") == token, timeout=3)
    except Exception:
        await c.close()
        await c.connect(since=c.last_seq)


def established(port: int) -> int:
    """TCP connections established to a local listening ``port``."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            count += 1
    return count


async def test_through_nginx_sockets_spread_over_both_replicas_and_survive_one_dying(
    tmp_path: Path, cluster: Cluster, made_clients: list[Client]
) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        skip_or_fail("nginx", "it is not installed (apt-get install nginx-light)")
    a, b = cluster.start(2)
    lb_port = free_port()
    conf = nginx_conf_for(tmp_path, lb_port, [a.port, b.port])
    argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
    log = open(tmp_path / "nginx.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    lb = f"http://127.0.0.1:{lb_port}"
    try:
        api = Api(lb)
        deadline = time.monotonic() + 10
        while True:
            try:
                if (await api.http.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "nginx.log").read_text()
            assert time.monotonic() < deadline, shlex.join(argv)
            await asyncio.sleep(0.1)
        session = await api.create_session(title="Behind nginx")
        await api.close()
        tokens = session["tokens"]
        ws_url = f"ws://127.0.0.1:{lb_port}/ws"
        producer = Client(ws_url, tokens["producer"])
        readers = [("facilitator", Client(ws_url, tokens["facilitator"])) for _ in range(3)]
        readers += [("observer", Client(ws_url, tokens["observer"])) for _ in range(2)]
        made_clients += [producer, *(c for _, c in readers)]
        # A browser's Origin passes: nginx keeps the Host (with its port) for the app.
        await producer.connect(origin=lb)
        for _, c in readers:
            await c.connect()
        assert established(a.port) >= 2 and established(b.port) >= 2, "one replica got all"

        first = await producer.send("prompt.time", {"text": "before"})
        await asyncio.gather(*(c.wait_seq(first["seq"]) for _, c in readers))
        a.kill()
        # Whoever was on the dead replica reconnects through nginx, lands on the live one.
        await asyncio.gather(*(ensure_live(c) for c in [producer, *(c for _, c in readers)]))
        for i in range(5):
            assert (await producer.send("prompt.time", {"text": f"after {i}"}))["type"] == "sent"
        last = await producer.send("note", {"text": "done"})
        end = await producer.send("prompt.time", {"text": "end"})
        await asyncio.gather(*(c.wait_seq(end["seq"]) for _, c in readers))
        api = Api(lb)
        log_events = await api.events(session["session"]["id"], tokens["producer"])
        await api.close()
        assert seqs(log_events) == list(range(1, len(log_events) + 1))
        assert last["seq"] in seqs(log_events)
        for role, c in readers:
            assert_stream(c, log_events, role, end["seq"])
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
