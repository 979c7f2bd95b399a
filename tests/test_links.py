"""Links can be listed, rotated and revoked; a stopped link stops at once, sockets included."""

import asyncio
import json
from typing import Any

import websockets

from tests.support import Api, Client, Server, ws_connect


def base(s: dict[str, Any]) -> str:
    return f"/api/v1/sessions/{s['session']['id']}"


def pid(s: dict[str, Any], role: str) -> str:
    return next(p["participant_id"] for p in s["participants"] if p["role"] == role)


async def read_as(api: Api, s: dict[str, Any], token: str) -> int:
    r = await api.http.get(base(s), headers=api.auth(token))
    return r.status_code


async def connect(server: Server, token: str, clients: list[Client]) -> Client:
    c = Client(server.ws_url, token)
    clients.append(c)
    await c.connect()
    return c


async def wait_closed(c: Client, timeout: float = 10) -> int | None:
    assert c._reader is not None
    await asyncio.wait_for(asyncio.shield(c._reader), timeout)
    return c.close_code


async def test_the_producer_lists_every_link_with_role_name_online_and_revoked(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    await connect(server, session["tokens"]["facilitator"], clients)
    producer = api.auth(session["tokens"]["producer"])
    added = await api.http.post(
        f"{base(session)}/participants",
        json={"role": "observer", "name": "Coach"},
        headers=producer,
    )
    assert added.status_code == 201
    coach = added.json()["participant"]["participant_id"]
    assert (
        await api.http.delete(f"{base(session)}/participants/{coach}", headers=producer)
    ).is_success

    async def listing() -> list[dict[str, Any]]:
        r = await api.http.get(f"{base(session)}/participants", headers=producer)
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        return rows

    # "online" comes from the log's presence events: poll until the facilitator's is logged.
    for _ in range(100):
        rows = await listing()
        if any(r["online"] for r in rows):
            break
        await asyncio.sleep(0.05)
    by_id = {r["participant_id"]: r for r in rows}
    assert set(by_id) == {
        pid(session, "producer"),
        pid(session, "facilitator"),
        pid(session, "observer"),
        coach,
    }
    assert all(set(r) == {"participant_id", "role", "name", "online", "revoked"} for r in rows)
    assert by_id[pid(session, "facilitator")]["online"] is True
    assert by_id[pid(session, "producer")]["online"] is False
    assert by_id[coach] == {
        "participant_id": coach,
        "role": "observer",
        "name": "Coach",
        "online": False,
        "revoked": True,
    }
    assert not any(r["revoked"] for r in rows if r["participant_id"] != coach)
    # Only a producer may list links.
    for role in ("facilitator", "observer"):
        r = await api.http.get(
            f"{base(session)}/participants", headers=api.auth(session["tokens"][role])
        )
        assert r.status_code == 403, r.text


async def test_rotating_a_link_stops_the_old_token_at_once_and_closes_its_sockets_with_4401(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    old = session["tokens"]["facilitator"]
    sockets = [await connect(server, old, clients) for _ in range(2)]
    producer_socket = await connect(server, session["tokens"]["producer"], clients)
    r = await api.http.post(
        f"{base(session)}/participants/{pid(session, 'facilitator')}/rotate",
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"participant", "token", "link"}
    assert body["participant"]["participant_id"] == pid(session, "facilitator")
    assert body["link"] == f"{server.url}/facilitator#t={body['token']}"
    assert body["token"] != old
    for sock in sockets:
        assert await wait_closed(sock) == 4401
    assert await read_as(api, session, old) == 401
    # The old token cannot open a socket either; the new one can, and is the same person.
    with_old = await ws_connect(server.ws_url)
    await with_old.send(json.dumps({"type": "hello", "token": old, "since": 0}))
    try:
        await asyncio.wait_for(with_old.recv(), 10)
    except websockets.ConnectionClosed as exc:
        assert exc.rcvd is not None and exc.rcvd.code == 4401
    else:
        raise AssertionError("the old token opened a socket")
    fresh = await connect(server, body["token"], clients)
    assert fresh.welcome["you"]["participant_id"] == pid(session, "facilitator")
    assert await read_as(api, session, body["token"]) == 200
    # Nobody else was disturbed.
    assert (await producer_socket.send("prompt.time", {"text": "still here"}))["type"] == "sent"
    assert producer_socket.close_code is None


async def test_a_participant_may_rotate_its_own_link_but_not_another_ones(
    server: Server, api: Api, session: dict[str, Any]
) -> None:
    facilitator = api.auth(session["tokens"]["facilitator"])
    other = await api.http.post(
        f"{base(session)}/participants/{pid(session, 'observer')}/rotate", headers=facilitator
    )
    assert other.status_code == 403, other.text
    assert await read_as(api, session, session["tokens"]["observer"]) == 200
    own = await api.http.post(
        f"{base(session)}/participants/{pid(session, 'facilitator')}/rotate", headers=facilitator
    )
    assert own.status_code == 201, own.text
    assert await read_as(api, session, session["tokens"]["facilitator"]) == 401
    assert await read_as(api, session, own.json()["token"]) == 200
    unknown = await api.http.post(
        f"{base(session)}/participants/p_nosuchone/rotate",
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert unknown.status_code == 404


async def test_revoking_a_link_stops_it_and_closes_its_sockets_but_keeps_it_in_the_log(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    producer = api.auth(session["tokens"]["producer"])
    facilitator_socket = await connect(server, session["tokens"]["facilitator"], clients)
    sent = await facilitator_socket.send("reply", {"text": "OK"})
    assert sent["type"] == "sent"
    r = await api.http.delete(
        f"{base(session)}/participants/{pid(session, 'facilitator')}", headers=producer
    )
    assert r.status_code == 200, r.text
    assert r.json()["participant"]["revoked"] is True
    assert await wait_closed(facilitator_socket) == 4401
    gone = await api.http.get(base(session), headers=api.auth(session["tokens"]["facilitator"]))
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "unauthorized"
    # Its events keep their author; revoking again changes nothing; rotating it is refused.
    events = await api.events(session["session"]["id"], session["tokens"]["producer"])
    reply = next(e for e in events if e["seq"] == sent["seq"])
    assert reply["author"]["participant_id"] == pid(session, "facilitator")
    again = await api.http.delete(
        f"{base(session)}/participants/{pid(session, 'facilitator')}", headers=producer
    )
    assert again.status_code == 200
    rotate = await api.http.post(
        f"{base(session)}/participants/{pid(session, 'facilitator')}/rotate", headers=producer
    )
    assert rotate.status_code == 409
    assert rotate.json()["error"]["code"] == "participant_revoked"
    assert await read_as(api, session, session["tokens"]["facilitator"]) == 401


async def test_only_a_producer_revokes_and_never_the_last_producer(
    server: Server, api: Api, session: dict[str, Any]
) -> None:
    producer = api.auth(session["tokens"]["producer"])
    me = pid(session, "producer")
    by_facilitator = await api.http.delete(
        f"{base(session)}/participants/{pid(session, 'observer')}",
        headers=api.auth(session["tokens"]["facilitator"]),
    )
    assert by_facilitator.status_code == 403
    last = await api.http.delete(f"{base(session)}/participants/{me}", headers=producer)
    assert last.status_code == 409, last.text
    assert last.json()["error"]["code"] == "last_producer"
    assert await read_as(api, session, session["tokens"]["producer"]) == 200
    # With a second producer, either may go, but not both.
    second = await api.http.post(
        f"{base(session)}/participants",
        json={"role": "producer", "name": "Co-producer"},
        headers=producer,
    )
    assert second.status_code == 201
    co = api.auth(second.json()["token"])
    co_id = second.json()["participant"]["participant_id"]
    both = await asyncio.gather(
        api.http.delete(f"{base(session)}/participants/{co_id}", headers=producer),
        api.http.delete(f"{base(session)}/participants/{me}", headers=co),
    )
    # One wins; the other finds itself revoked (401) or the last producer (409).
    codes = sorted(r.status_code for r in both)
    assert codes in ([200, 401], [200, 409]), [r.text for r in both]
    listing = await api.http.get(
        f"{base(session)}/participants",
        headers=producer if both[0].status_code == 200 else co,
    )
    producers = [p for p in listing.json() if p["role"] == "producer"]
    assert [p["revoked"] for p in producers].count(False) == 1
