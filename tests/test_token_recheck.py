"""A process trusts what it knows of a link for at most 2 s: changes it cannot hear (another
process wrote them, a lost broker message) still stop the link, sockets included.

One process on SQLite with the in-memory broker: the changes are made behind its back (a
direct write to its database, ``backchannel purge`` run as another process) or by moving
its clock, so nothing is ever published to it.
"""

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from app.clock import now_ms
from tests.support import Api, Client, Server
from tests.test_lifecycle import DAY_S, advance, base, end, hello_close
from tests.test_links import pid

# The documented bound (docs/security.md) and what a loaded test machine may add to it.
TRUST_S = 2.0
SLACK_S = 1.0


async def wait_closed(c: Client, timeout: float) -> tuple[int | None, str | None]:
    assert c._reader is not None
    await asyncio.wait_for(asyncio.shield(c._reader), timeout)
    return c.close_code, c.close_reason


async def first_refusal(api: Api, s: dict[str, Any], token: str, timeout: float) -> float:
    """Polls ``GET /session`` with ``token`` until it is refused (401); returns when, in
    seconds from now, the last request that was still served (200) had been sent (0 if
    none). Send times, not answer times: a slow answer on a loaded machine says nothing
    of how long the server trusted the token."""
    t0 = time.monotonic()
    last_served = 0.0
    while time.monotonic() - t0 < timeout:
        sent = time.monotonic() - t0
        r = await api.http.get(base(s), headers=api.auth(token))
        if r.status_code != 200:
            assert r.status_code == 401, r.text
            return last_served
        last_served = sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"still 200 after {timeout} s")


def database_file(server: Server) -> Path:
    return Path(server.database_url.split("///", 1)[1])


async def test_a_link_revoked_behind_the_servers_back_stops_within_two_seconds(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    token = session["tokens"]["facilitator"]
    old = Client(server.ws_url, token)
    clients.append(old)
    await old.connect()
    # The process knows this token now (an open socket, reads that hit its cache).
    for _ in range(3):
        assert (await api.http.get(base(session), headers=api.auth(token))).status_code == 200
    # Another writer revokes it; this process hears nothing of it.
    with sqlite3.connect(database_file(server), timeout=30) as db:
        db.execute(
            "UPDATE participants SET revoked_ms = ? WHERE id = ?",
            (now_ms(), pid(session, "facilitator")),
        )
    t0 = time.monotonic()
    served_until = await first_refusal(api, session, token, timeout=10)
    assert served_until <= TRUST_S + SLACK_S, f"HTTP still served {served_until:.2f} s after"
    code, _ = await wait_closed(old, timeout=TRUST_S + SLACK_S - (time.monotonic() - t0) + 1)
    assert code == 4401
    assert (await hello_close(server, token))[0] == 4401
    print(f"HTTP served until {served_until:.2f} s after the revocation, socket closed 4401")


async def test_purge_run_beside_a_memory_broker_server_closes_the_sessions_sockets_with_4404(
    server: Server, api: Api, clients: list[Client]
) -> None:
    old = await api.create_session(title="Ended")
    kept = await api.create_session(title="Running")
    await end(api, old)
    watching = Client(server.ws_url, old["tokens"]["observer"])
    running = Client(server.ws_url, kept["tokens"]["producer"])
    clients += [watching, running]
    await watching.connect()
    await running.connect()
    done = subprocess.run(
        [sys.executable, "-m", "app", "purge", "--ended-before", "0"],
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"erased {old['session']['id']}" in done.stdout
    code, _ = await wait_closed(watching, timeout=TRUST_S + SLACK_S + 1)
    assert code == 4404
    assert (await running.send("prompt.time", {"text": "still here"}))["type"] == "sent"
    assert running.close_code is None


async def test_an_open_socket_closes_with_link_expired_when_the_link_ttl_runs_out(
    timed_server: Server, timed_api: Api, clients: list[Client]
) -> None:
    s = await timed_api.create_session(title="Debrief")
    await end(timed_api, s)
    debrief = Client(timed_server.ws_url, s["tokens"]["facilitator"])
    clients.append(debrief)
    await debrief.connect()
    await advance(timed_api, 29 * DAY_S)
    await asyncio.sleep(TRUST_S)  # a re-check or two: still within the TTL, still open
    assert debrief.close_code is None
    await advance(timed_api, 2 * DAY_S)
    code, reason = await wait_closed(debrief, timeout=TRUST_S + SLACK_S + 1)
    assert (code, reason) == (4401, "link_expired")
