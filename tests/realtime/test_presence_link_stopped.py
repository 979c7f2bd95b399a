"""A link rotated or revoked closes its sockets with 4401, and a dead link does not come back:
the participant's ``offline`` is logged at once, not after the 5-s grace that covers a dropped
Wi-Fi — so the producer's presence line follows the rotation at once (issue 21 item 4).

On one process (memory://, in process: the clock does not move, so an offline that waited
for the grace would never come) and on two processes sharing PostgreSQL and Redis (real time:
it comes well before the grace would end).
"""

from typing import Any

from tests.realtime.test_presence import _closed_code, _wait_presence, servers
from tests.support import Api, Client

__all__ = ["servers"]  # the fixture, memory:// and Redis

GRACE_S = 5.0


async def _facilitator(servers: list[Any], api: Api) -> tuple[dict[str, Any], Client, str]:
    session = await api.create_session(title="Rotations")
    fac = Client(servers[-1].ws_url, session["tokens"]["facilitator"])
    pid = (await fac.connect())["you"]["participant_id"]
    await _wait_presence(api, session, pid, ["online"])
    return session, fac, pid


async def test_a_rotated_link_is_offline_at_once_without_the_grace(servers: list[Any]) -> None:
    api = Api(servers[0].url)
    clients: list[Client] = []
    try:
        session, fac, pid = await _facilitator(servers, api)
        clients.append(fac)
        sid = session["session"]["id"]
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/participants/{pid}/rotate",
            headers=api.auth(session["tokens"]["producer"]),
        )
        assert r.status_code == 201, r.text
        assert await _closed_code(fac) == 4401
        assert fac.close_reason == "link_replaced"
        took = await _wait_presence(api, session, pid, ["online", "offline"], timeout=GRACE_S)
        assert took < GRACE_S / 2, took

        # The new link brings the participant back; revoking it is offline at once too.
        back = Client(servers[0].ws_url, r.json()["token"])
        clients.append(back)
        await back.connect()
        await _wait_presence(api, session, pid, ["online", "offline", "online"])
        r = await api.http.delete(
            f"/api/v1/sessions/{sid}/participants/{pid}",
            headers=api.auth(session["tokens"]["producer"]),
        )
        assert r.status_code == 200, r.text
        assert await _closed_code(back) == 4401
        assert back.close_reason == "link_revoked"
        want = ["online", "offline", "online", "offline"]
        took = await _wait_presence(api, session, pid, want, timeout=GRACE_S)
        assert took < GRACE_S / 2, took
    finally:
        for c in clients:
            await c.close()
        await api.close()
