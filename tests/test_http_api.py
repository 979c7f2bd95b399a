"""HTTP API v1: sessions, participants, events with idempotency, paging, organizer key."""

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from tests.inprocess import InProcessServer
from tests.support import Api, Client, Server


async def test_creating_a_session_returns_links_with_tokens_in_the_fragment(
    api: Api, server: Server
) -> None:
    s = await api.create_session(
        title="  Onboarding  ",
        agenda=[{"title": "Intro", "minutes": 5}],
        roster=[" Maria ", "Maria", "", "Li"],
    )
    assert s["session"]["title"] == "Onboarding"
    assert s["session"]["roster"] == ["Maria", "Li"], "trimmed, blank and repeated names dropped"
    assert s["session"]["status"] == "planned"
    for role in ("producer", "facilitator", "observer"):
        token = s["tokens"][role]
        assert len(token) >= 22, "at least 128 random bits"
        assert s["links"][role].startswith(server.url + "/")
        assert s["links"][role].endswith("#t=" + token), "the token rides in the fragment"
    assert "/facilitator#" in s["links"]["facilitator"]
    assert s["qr"]["facilitator"].lstrip().startswith("<svg")


async def test_tokens_are_stored_only_as_hashes(api: Api, server: Server) -> None:
    s = await api.create_session(title="Hashes")
    db = server.database_url.split("///", 1)[1]
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT token_hash FROM participants")}
        dump = "\n".join(conn.iterdump())
    for token in s["tokens"].values():
        assert token not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in stored


async def test_tokens_never_appear_in_the_server_log(tmp_path: Path) -> None:
    srv = Server(tmp_path, env={"BACKCHANNEL_LOG_LEVEL": "debug"}).start()
    api = Api(srv.url)
    try:
        s = await api.create_session(title="Quiet logs")
        sid = s["session"]["id"]
        h = api.auth(s["tokens"]["producer"])
        await api.http.get(f"/api/v1/sessions/{sid}", headers=h)
        await api.http.post(
            f"/api/v1/sessions/{sid}/events",
            json={"kind": "note", "body": {"text": "x"}},
            headers=h,
        )
        c = Client(srv.ws_url, s["tokens"]["facilitator"])
        await c.connect()
        await c.close()
    finally:
        await api.close()
        srv.stop()
    log = srv.log_text()
    assert "GET /api/v1/sessions/" in log, "access log is on in this test"
    for token in s["tokens"].values():
        assert token not in log


async def test_the_organizer_key_guards_session_creation(tmp_path: Path) -> None:
    srv = await InProcessServer(
        tmp_path, env={"BACKCHANNEL_ORGANIZER_KEY": "k3y-for-organizers"}
    ).start()
    api = Api(srv.url)
    try:
        r = await api.http.post("/api/v1/sessions", json={"title": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await api.http.post("/api/v1/sessions", json={"title": "x"}, headers=api.auth("wrong"))
        assert r.status_code == 401
        r = await api.http.post(
            "/api/v1/sessions", json={"title": "x"}, headers=api.auth("k3y-for-organizers")
        )
        assert r.status_code == 201
    finally:
        await api.close()
        await srv.stop()


async def test_http_events_are_idempotent_on_the_idempotency_key(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    h = {**api.auth(session["tokens"]["producer"]), "Idempotency-Key": "deck-button-7"}
    url = f"/api/v1/sessions/{sid}/events"
    first = await api.http.post(
        url, json={"kind": "prompt.time", "body": {"text": "wrap up"}}, headers=h
    )
    assert first.status_code == 201
    event = first.json()
    assert (
        event["id"] == "deck-button-7"
        and event["seq"] == 1
        and event["author"]["role"] == "producer"
    )
    again = await api.http.post(
        url, json={"kind": "prompt.time", "body": {"text": "wrap up"}}, headers=h
    )
    assert again.status_code == 200 and again.json() == event
    clash = await api.http.post(
        url, json={"kind": "prompt.time", "body": {"text": "other"}}, headers=h
    )
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_conflict"
    by_body = await api.http.post(
        url,
        json={"id": "body-id", "kind": "note", "body": {"text": "n"}},
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert by_body.status_code == 201 and by_body.json()["id"] == "body-id"
    generated = await api.http.post(
        url,
        json={"kind": "note", "body": {"text": "n"}},
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert generated.status_code == 201 and len(generated.json()["id"]) == 36
    logged = await api.events(sid, session["tokens"]["producer"])
    assert [e["seq"] for e in logged] == [1, 2, 3]


async def test_events_page_with_after_and_limit_and_report_last_seq(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    h = api.auth(session["tokens"]["producer"])
    for i in range(7):
        kind = "note" if i % 2 else "prompt.time"
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events",
            json={"kind": kind, "body": {"text": str(i)}},
            headers=h,
        )
        assert r.status_code == 201
    page = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/events", params={"after": 2, "limit": 3}, headers=h
        )
    ).json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5] and page["last_seq"] == 7
    fac = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/events", headers=api.auth(session["tokens"]["facilitator"])
        )
    ).json()
    assert [e["seq"] for e in fac["events"]] == [1, 3, 5, 7], (
        "notes are hidden, the seq gap is expected"
    )
    assert fac["last_seq"] == 7


async def test_the_producer_changes_the_session_and_adds_a_co_facilitator(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    sid = session["session"]["id"]
    h = api.auth(session["tokens"]["producer"])
    r = await api.http.patch(
        f"/api/v1/sessions/{sid}",
        json={
            "title": "Coaching skills II",
            "roster": ["Maria", "Zoe"],
            "settings": {"auto_prompts": [2], "escalate_after_s": 30},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    got = r.json()["session"]
    assert got["title"] == "Coaching skills II" and got["roster"] == ["Maria", "Zoe"]
    assert got["settings"] == {
        "auto_prompts": [2],
        "escalate_after_s": 30,
        "countdown_amber_s": 120,
    }
    assert got["agenda"] == session["session"]["agenda"], "untouched fields stay"
    bad = await api.http.patch(
        f"/api/v1/sessions/{sid}", json={"settings": {"escalate_after_s": "soon"}}, headers=h
    )
    assert bad.status_code == 422
    added = await api.http.post(
        f"/api/v1/sessions/{sid}/participants",
        json={"role": "facilitator", "name": "Co-facilitator"},
        headers=h,
    )
    assert added.status_code == 201
    body = added.json()
    assert body["participant"]["role"] == "facilitator" and body["link"].endswith(
        "#t=" + body["token"]
    )
    co = Client(server.ws_url, body["token"])
    clients.append(co)
    welcome = await co.connect()
    assert welcome["you"] == body["participant"]


async def test_pages_carry_a_strict_content_security_policy(api: Api) -> None:
    r = await api.http.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    api_reply = await api.http.get("/healthz")
    assert api_reply.headers["x-content-type-options"] == "nosniff"


async def test_the_openapi_spec_is_served_and_the_docs_pages_are_off_by_default(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    assert "/api/v1/sessions/{session_id}/events" in spec["paths"]
    # /docs and /redoc load scripts from a CDN: only with BACKCHANNEL_API_DOCS=1
    assert (await api.http.get("/docs")).status_code == 404
    assert (await api.http.get("/redoc")).status_code == 404
