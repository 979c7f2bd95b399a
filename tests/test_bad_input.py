"""Bad input gets a clear error code, changes nothing, and never a 500 or a dropped socket."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from app.clock import clock
from tests.inprocess import InProcessServer
from tests.support import Api, Client, Server, ws_connect

RECOVERABLE_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("not JSON", "this is not json", "invalid_json"),
    ("JSON that is not an object", "[1, 2, 3]", "invalid_frame"),
    ("an object without type", '{"kind": "note"}', "invalid_frame"),
    ("a binary frame", b"\x00\x01\x02garbage", "binary_frame"),
    ("an unknown type", '{"type": "subscribe"}', "unknown_type"),
    ("a second hello", '{"type": "hello", "token": "x"}', "already_hello"),
    (
        "an unknown kind",
        '{"type":"send","id":"u1","kind":"prompt.later","body":{}}',
        "unknown_kind",
    ),
    (
        "a missing body field",
        '{"type":"send","id":"u2","kind":"flag.learner","body":{"learner":"M"}}',
        "invalid_body",
    ),
    (
        "a wrong field type",
        '{"type":"send","id":"u3","kind":"prompt.time","body":{"text":5}}',
        "invalid_body",
    ),
    (
        "an unknown body field",
        '{"type":"send","id":"u4","kind":"prompt.time","body":{"text":"a","x":1}}',
        "invalid_body",
    ),
    (
        "a bad enum",
        '{"type":"send","id":"u5","kind":"alert.stop","body":{"reason":"lunch"}}',
        "invalid_body",
    ),
    (
        "text over 500 chars",
        json.dumps({"type": "send", "id": "u6", "kind": "note", "body": {"text": "x" * 501}}),
        "invalid_body",
    ),
    (
        "a body that is a list",
        '{"type":"send","id":"u7","kind":"note","body":["a"]}',
        "invalid_body",
    ),
    (
        "an invalid id",
        '{"type":"send","id":"has space","kind":"note","body":{"text":"a"}}',
        "invalid_id",
    ),
    (
        "an over-long id",
        json.dumps({"type": "send", "id": "i" * 129, "kind": "note", "body": {"text": "a"}}),
        "invalid_id",
    ),
    ("a send without kind", '{"type":"send","id":"u8","body":{}}', "invalid_frame"),
    (
        "an unknown send field",
        '{"type":"send","id":"u9","kind":"note","body":{"text":"a"},"extra":1}',
        "invalid_frame",
    ),
    (
        "a ref to no event",
        '{"type":"send","id":"u10","kind":"alert.cancel","body":{"ref":999}}',
        "invalid_body",
    ),
    (
        "a segment outside the agenda",
        '{"type":"send","id":"u11","kind":"segment.start","body":{"index":7}}',
        "invalid_body",
    ),
    (
        "a system kind",
        '{"type":"send","id":"u12","kind":"presence","body":{"participant_id":"p","status":"online"}}',
        "kind_not_allowed",
    ),
]


@pytest.mark.parametrize(
    ("what", "frame", "code"), RECOVERABLE_FRAMES, ids=[r[0] for r in RECOVERABLE_FRAMES]
)
async def test_a_recoverable_bad_frame_gets_an_error_and_the_socket_stays_open(
    server: Server,
    api: Api,
    session: dict[str, Any],
    clients: list[Client],
    what: str,
    frame: str | bytes,
    code: str,
) -> None:
    producer = Client(server.ws_url, session["tokens"]["producer"])
    clients.append(producer)
    await producer.connect()
    await producer.send_raw(frame)
    err = await producer.wait_for(lambda f: f["type"] == "error")
    assert err["code"] == code, err
    assert err["message"]
    # still open and working; nothing was logged by the bad frame
    ok = await producer.send("prompt.time", {"text": "still here"})
    assert ok["type"] == "sent"
    logged = await api.events(session["session"]["id"], session["tokens"]["producer"])
    assert [e["kind"] for e in logged if e["kind"] != "presence"] == ["prompt.time"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("prompt.time", {"text": "go faster"}),
        ("alert.stop", {"reason": "problem"}),
        ("note", {"text": "facilitator note"}),
        ("session.end", {}),
    ],
)
async def test_a_facilitator_cannot_send_producer_kinds(
    server: Server,
    api: Api,
    session: dict[str, Any],
    clients: list[Client],
    kind: str,
    body: dict[str, Any],
) -> None:
    f = Client(server.ws_url, session["tokens"]["facilitator"])
    clients.append(f)
    await f.connect()
    reply = await f.send(kind, body)
    assert reply["type"] == "error" and reply["code"] == "kind_not_allowed"
    logged = await api.events(session["session"]["id"], session["tokens"]["producer"])
    assert all(e["kind"] == "presence" for e in logged)


async def test_an_observer_may_only_add_notes(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    o = Client(server.ws_url, session["tokens"]["observer"])
    clients.append(o)
    await o.connect()
    assert (await o.send("note", {"text": "fine"}))["type"] == "sent"
    for kind, body in [("prompt.time", {"text": "x"}), ("ack", {"ref": 1, "status": "done"})]:
        reply = await o.send(kind, body)
        assert reply["code"] == "kind_not_allowed"


async def _raw(server: Server) -> Any:
    return await ws_connect(server.ws_url, max_size=2**22)


async def test_a_send_before_hello_is_refused_until_hello_arrives(
    server: Server, session: dict[str, Any]
) -> None:
    async with await _raw(server) as ws:
        await ws.send(
            json.dumps({"type": "send", "id": "early", "kind": "note", "body": {"text": "x"}})
        )
        err = json.loads(await ws.recv())
        assert err["type"] == "error" and err["code"] == "hello_required"
        await ws.send(
            json.dumps({"type": "hello", "token": session["tokens"]["producer"], "since": 0})
        )
        assert json.loads(await ws.recv())["type"] == "welcome"


@pytest.mark.parametrize("token", ["wrong-token", "", "x" * 300])
async def test_a_wrong_token_closes_with_4401(server: Server, token: str) -> None:
    async with await _raw(server) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_hello_without_token_closes_with_4401(server: Server) -> None:
    async with await _raw(server) as ws:
        await ws.send(json.dumps({"type": "hello", "since": 0}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_hello_with_a_bad_since_gets_an_error_and_may_be_retried(
    server: Server, session: dict[str, Any]
) -> None:
    async with await _raw(server) as ws:
        await ws.send(
            json.dumps({"type": "hello", "token": session["tokens"]["producer"], "since": "x"})
        )
        err = json.loads(await ws.recv())
        assert err["code"] == "invalid_frame"
        await ws.send(
            json.dumps({"type": "hello", "token": session["tokens"]["producer"], "since": 0})
        )
        assert json.loads(await ws.recv())["type"] == "welcome"


async def test_a_frame_over_16_kib_closes_with_1009(real_server: Server) -> None:
    """uvicorn enforces the frame size (``ws_max_size``): a real server."""
    api = Api(real_server.url)
    session = await api.create_session()
    await api.close()
    c = Client(real_server.ws_url, session["tokens"]["producer"])
    await c.connect()
    await c.send_raw(
        json.dumps({"type": "send", "id": "big", "kind": "note", "body": {"text": "x" * 17000}})
    )
    await asyncio.wait_for(c._reader, 5)  # type: ignore[arg-type]
    assert c.close_code == 1009
    await c.close()


async def test_no_hello_in_time_closes_with_4408(tmp_path: Any) -> None:
    srv = await InProcessServer(tmp_path, env={"BACKCHANNEL_HELLO_TIMEOUT_S": "0.5"}).start()
    try:
        async with ws_connect(srv.ws_url) as ws:
            clock.advance(0.5)  # the deadline passes without waiting for it
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
    finally:
        await srv.stop()


async def test_a_foreign_origin_is_refused(server: Server, session: dict[str, Any]) -> None:
    async with ws_connect(server.ws_url, origin="http://evil.example") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_sends_beyond_the_rate_limit_get_rate_limited_errors(tmp_path: Path) -> None:
    # A slow refill (1 per 10 s) keeps the count exact however loaded the machine is.
    srv = await InProcessServer(
        tmp_path, env={"BACKCHANNEL_RATE_PER_S": "0.1", "BACKCHANNEL_RATE_BURST": "5"}
    ).start()
    api = Api(srv.url)
    try:
        s = await api.create_session(title="Rate")
        c = Client(srv.ws_url, s["tokens"]["producer"])
        await c.connect()
        for i in range(12):
            await c.send_raw(
                json.dumps({"type": "send", "id": f"r{i}", "kind": "note", "body": {"text": "x"}})
            )
        await c.wait_for(lambda f: f.get("id") == "r11")
        replies = [f for f in c.frames if f["type"] in ("sent", "error")]
        assert [f["type"] for f in replies] == ["sent"] * 5 + ["error"] * 7
        assert all(f["code"] == "rate_limited" and f["retry_after_s"] > 0 for f in replies[5:])
        # the socket stays open; the HTTP limit is per participant, separate from the socket's
        r = await api.http.post(
            f"/api/v1/sessions/{s['session']['id']}/events",
            json={"kind": "note", "body": {"text": "http"}},
            headers=api.auth(s["tokens"]["producer"]),
        )
        assert r.status_code == 201
        statuses = [
            (
                await api.http.post(
                    f"/api/v1/sessions/{s['session']['id']}/events",
                    json={"kind": "note", "body": {"text": f"h{i}"}},
                    headers=api.auth(s["tokens"]["producer"]),
                )
            )
            for i in range(6)
        ]
        assert [r.status_code for r in statuses] == [201] * 4 + [429] * 2
        assert int(statuses[-1].headers["Retry-After"]) >= 1
        assert statuses[-1].json()["error"]["code"] == "rate_limited"
        logged = await api.events(s["session"]["id"], s["tokens"]["producer"])
        assert sum(1 for e in logged if e["kind"] == "note") == 10
        await c.close()
    finally:
        await api.close()
        await srv.stop()


# -- HTTP -------------------------------------------------------------------------------------

BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", "{nope", 400, "invalid_json"),
    ("a list", [], 422, "invalid_input"),
    ("no title", {}, 422, "invalid_input"),
    ("title of wrong type", {"title": 5}, 422, "invalid_input"),
    ("title over 200", {"title": "t" * 201}, 422, "invalid_input"),
    ("blank title", {"title": "   "}, 422, "invalid_input"),
    ("bad agenda", {"title": "t", "agenda": [{"title": "a", "minutes": -1}]}, 422, "invalid_input"),
    (
        "too many segments",
        {"title": "t", "agenda": [{"title": "a", "minutes": 1}] * 51},
        422,
        "invalid_input",
    ),
    (
        "too many learners",
        {"title": "t", "roster": [f"n{i}" for i in range(301)]},
        422,
        "invalid_input",
    ),
    ("long learner name", {"title": "t", "roster": ["n" * 81]}, 422, "invalid_input"),
    ("unknown field", {"title": "t", "owner": "me"}, 422, "invalid_input"),
    ("bad planned_start", {"title": "t", "planned_start": "tomorrow"}, 422, "invalid_input"),
]


@pytest.mark.parametrize(
    ("what", "body", "status", "code"), BAD_CREATES, ids=[b[0] for b in BAD_CREATES]
)
async def test_bad_session_creation_is_refused_with_a_json_error(
    api: Api, what: str, body: Any, status: int, code: str
) -> None:
    if isinstance(body, str):
        r = await api.http.post(
            "/api/v1/sessions", content=body, headers={"content-type": "application/json"}
        )
    else:
        r = await api.http.post("/api/v1/sessions", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert "Traceback" not in r.text


async def test_http_event_errors_are_json_4xx_and_store_nothing(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    t = session["tokens"]
    url = f"/api/v1/sessions/{sid}/events"
    cases: list[tuple[dict[str, str], Any, int, str]] = [
        ({}, {"kind": "note", "body": {"text": "x"}}, 401, "unauthorized"),
        (
            {"Authorization": "Bearer nope"},
            {"kind": "note", "body": {"text": "x"}},
            401,
            "unauthorized",
        ),
        (
            {"Authorization": "Basic abc"},
            {"kind": "note", "body": {"text": "x"}},
            401,
            "unauthorized",
        ),
        (api.auth(t["producer"]), "{broken", 400, "invalid_json"),
        (api.auth(t["producer"]), [1, 2], 422, "invalid_input"),
        (api.auth(t["producer"]), {"body": {}}, 422, "invalid_input"),
        (api.auth(t["producer"]), {"kind": "nope", "body": {}}, 422, "unknown_kind"),
        (api.auth(t["producer"]), {"kind": "note", "body": {"text": 1}}, 422, "invalid_body"),
        (
            api.auth(t["producer"]),
            {"kind": "note", "body": {"text": "x"}, "more": 1},
            422,
            "invalid_input",
        ),
        (
            api.auth(t["facilitator"]),
            {"kind": "alert.stop", "body": {"reason": "chat"}},
            403,
            "kind_not_allowed",
        ),
    ]
    for headers, body, status, code in cases:
        if isinstance(body, str):
            r = await api.http.post(
                url, content=body, headers={**headers, "content-type": "application/json"}
            )
        else:
            r = await api.http.post(url, json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
    r = await api.http.get(url, headers=api.auth(t["producer"]))
    assert r.json()["events"] == []


async def test_query_parameters_of_the_wrong_type_are_422(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    h = api.auth(session["tokens"]["producer"])
    for params in ({"after": "x"}, {"after": -1}, {"limit": 0}, {"limit": 5001}, {"format": "xml"}):
        r = await api.http.get(f"/api/v1/sessions/{sid}/events", params=params, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", params
    r = await api.http.get(f"/api/v1/sessions/{sid}/events/abc/status", headers=h)
    assert r.status_code == 422


async def test_unknown_sessions_and_routes_are_json_404s(api: Api, session: dict[str, Any]) -> None:
    h = api.auth(session["tokens"]["producer"])
    for path in (
        "/api/v1/sessions/doesnotexist",
        "/api/v1/sessions/doesnotexist/events",
        "/api/v1/nothing",
    ):
        r = await api.http.get(path, headers=h)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    r = await api.http.put("/healthz")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_roles_are_enforced_on_producer_endpoints(api: Api, session: dict[str, Any]) -> None:
    sid = session["session"]["id"]
    for role in ("facilitator", "observer"):
        h = api.auth(session["tokens"][role])
        assert (
            await api.http.patch(f"/api/v1/sessions/{sid}", json={"title": "x"}, headers=h)
        ).status_code == 403
        assert (await api.http.delete(f"/api/v1/sessions/{sid}", headers=h)).status_code == 403
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/participants",
            json={"role": "producer", "name": "x"},
            headers=h,
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    h = api.auth(session["tokens"]["facilitator"])
    assert (await api.http.get(f"/api/v1/sessions/{sid}/export", headers=h)).status_code == 403
    view = (
        await api.http.get(
            f"/api/v1/sessions/{sid}", headers=api.auth(session["tokens"]["producer"])
        )
    ).json()
    assert view["session"]["title"] == "Coaching skills"
