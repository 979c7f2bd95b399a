"""The deployment recipe: compose needs its secrets set, nginx limits each address and does
not hand the raw Host header to the app."""

import asyncio
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
import yaml

from tests.support import ROOT, Api, Server, free_port, skip_or_fail

SECRETS = ("POSTGRES_PASSWORD", "BACKCHANNEL_ORGANIZER_KEY")


def test_compose_needs_the_database_password_and_organizer_key_set() -> None:
    text = (ROOT / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    uses = re.findall(r"\$\{(\w+)(:?[-?+]?)([^}]*)\}", text)
    for name in SECRETS:
        found = [(op, rest) for var, op, rest in uses if var == name]
        assert found, f"{name} is not used"
        # ${VAR:?message}: compose refuses to start while VAR is unset or empty; no default.
        assert all(op == ":?" and rest.strip() for op, rest in found), (name, found)
    env = compose["x-app"]["environment"]
    assert "${BACKCHANNEL_ORGANIZER_KEY:?" in env["BACKCHANNEL_ORGANIZER_KEY"]
    assert (
        "${POSTGRES_PASSWORD:?"
        in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )


def test_compose_trusts_forwarded_headers_from_nginx_alone() -> None:
    """``FORWARDED_ALLOW_IPS: "*"`` let any container (or a client reaching a replica) pick
    the address that the per-address limits count: the replicas trust nginx's fixed address,
    and only it."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    trusted = compose["x-app"]["environment"]["FORWARDED_ALLOW_IPS"]
    nginx = compose["services"]["lb"]["networks"]["default"]["ipv4_address"]
    assert trusted == nginx
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx) in ipaddress.ip_network(subnet)
    for name in ("app1", "app2"):  # the replicas share the network nginx's address is on
        assert compose["services"][name].get("networks") in (None, ["default"])


def test_the_nginx_config_limits_requests_and_connections_per_address() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert "$http_host" not in code
    assert re.search(r"limit_req_zone \$binary_remote_addr zone=(\w+)", code)
    assert re.search(r"limit_conn_zone \$binary_remote_addr zone=(\w+)", code)
    assert re.search(r"^\s*limit_conn \w+ \d+;", code, re.M)
    assert re.search(r"^\s*limit_req zone=\w+", code, re.M)


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """One server behind deploy/nginx.conf (both upstream entries point at it)."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        skip_or_fail("nginx", "it is not installed (apt-get install nginx-light)")
    srv = Server(tmp_path).start()
    listen = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for name in ("app1", "app2"):
        conf = conf.replace(f"server {name}:8000", f"server 127.0.0.1:{srv.port}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp_path / 'nginx.pid'};")
    conf = conf.replace("worker_processes auto;", "worker_processes 1;")
    if os.geteuid() == 0:
        conf = "user root;\n" + conf
    (tmp_path / "logs").mkdir(exist_ok=True)
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    argv = [str(nginx), "-p", str(tmp_path), "-c", str(path), "-e", "stderr"]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    log = open(tmp_path / "nginx.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*argv, "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "nginx.log").read_text()
            assert time.monotonic() < deadline, "nginx did not come up"
            time.sleep(0.1)
        yield srv, url
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        srv.stop()


async def test_nginx_limits_session_creation_per_address(
    behind_nginx: tuple[Server, str],
) -> None:
    _, url = behind_nginx
    api = Api(url)
    try:
        statuses = []
        for i in range(16):
            r = await api.http.post("/api/v1/sessions", json={"title": f"s{i}"})
            statuses.append(r.status_code)
        # 30 a minute with bursts of 10: the first ones pass, then nginx answers 429.
        assert statuses[:5] == [201] * 5, statuses
        assert statuses.count(429) >= 3, statuses
        # A request with a key is left to the app (which checks the key).
        r = await api.http.post(
            "/api/v1/sessions", json={"title": "k"}, headers={"Authorization": "Bearer x"}
        )
        assert r.status_code == 201
        assert (await api.http.get("/healthz")).status_code == 200  # other routes unaffected
    finally:
        await api.close()


async def test_behind_nginx_the_app_never_sees_a_host_port_the_client_chose(
    behind_nginx: tuple[Server, str],
) -> None:
    """nginx passes its cleaned-up host name and its own port, not the raw Host header: an
    Origin that matches only a Host the client made up is refused (4403)."""
    _, url = behind_nginx
    api = Api(url)
    try:
        s = await api.create_session(title="Origin")
    finally:
        await api.close()
    port = int(url.rsplit(":", 1)[1])
    hello = json.dumps({"type": "hello", "token": s["tokens"]["producer"]})
    for forged in ("127.0.0.1:1", "evil.example", "evil.example:1"):
        # Connect to nginx, but with the forged name in Host (and the matching Origin).
        async with websockets.connect(
            f"ws://{forged}/ws",
            origin=f"http://{forged}",  # type: ignore[arg-type]
            host="127.0.0.1",
            port=port,
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.send(hello)  # the server may have closed already
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, forged
    # The page's own origin still passes.
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", origin=url) as ws:  # type: ignore[arg-type]
        await ws.send(hello)
        assert '"welcome"' in await asyncio.wait_for(ws.recv(), 5)
