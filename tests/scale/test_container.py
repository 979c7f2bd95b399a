"""The container recipe runs what the tests run: Dockerfile CMD and HEALTHCHECK, the compose
services, and the nginx load balancer config in front of two real server processes."""

import asyncio
import fnmatch
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.scale.conftest import Cluster
from tests.scale.test_cluster import assert_stream
from tests.support import ROOT, Api, Client, free_port, seqs, skip_or_fail


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


def test_the_image_is_slim_non_root_and_installs_the_package() -> None:
    d = dockerfile()
    assert d["FROM"] == "python:3.11-slim"
    assert d["USER"] not in ("root", "0")
    assert any(run.startswith("pip install .") for run in d["RUN"])
    assert exec_form(d["CMD"]) == ["backchannel", "serve", "--host", "0.0.0.0"]


def test_the_package_ships_every_web_and_migration_file() -> None:
    """`pip install .` in the image must carry the pages and the migrations along."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["app"]
    files = [
        str(p.relative_to(ROOT / "app"))
        for sub in ("web", "migrations")
        for p in (ROOT / "app" / sub).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".md"
    ]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert missing == []


def test_the_image_command_serves_and_its_healthcheck_tells_up_from_down(tmp_path: Path) -> None:
    d = dockerfile()
    cmd = exec_form(d["CMD"])
    health = exec_form(d["HEALTHCHECK"].split("CMD", 1)[1].strip())
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "BACKCHANNEL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'image.db'}",
            "BACKCHANNEL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PORT": str(port),
        }
    )
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
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
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        log.close()
    assert subprocess.run(health, env=env, capture_output=True).returncode != 0


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
