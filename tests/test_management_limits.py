"""Managing a session has limits (issue 22, item 5): participants per session, management
requests per token, and a session that ended is a record (no PATCH)."""

from pathlib import Path
from typing import Any

import httpx

from app.clock import clock
from app.config import Settings
from tests.inprocess import InProcessServer
from tests.support import Api


def test_the_management_limits_default_to_the_documented_figures() -> None:
    settings = Settings(_env_file=None)
    assert settings.max_participants == 50
    assert (settings.manage_per_s, settings.manage_burst) == (2.0, 20)


async def _server(tmp_path: Path, **env: str) -> tuple[InProcessServer, Api]:
    server = await InProcessServer(
        tmp_path, env={f"BACKCHANNEL_{k}": v for k, v in env.items()}
    ).start()
    return server, Api(server.url)


async def test_a_session_has_at_most_50_participants_revoked_ones_included(
    tmp_path: Path,
) -> None:
    server, api = await _server(tmp_path, MANAGE_BURST="200")
    try:
        s = await api.create_session()  # a producer, a facilitator, an observer
        sid, producer = s["session"]["id"], api.auth(s["tokens"]["producer"])
        added = []
        for i in range(47):
            r = await api.http.post(
                f"/api/v1/sessions/{sid}/participants",
                json={"role": "observer", "name": f"Observer {i}"},
                headers=producer,
            )
            assert r.status_code == 201, (i, r.text)
            added.append(r.json()["participant"]["participant_id"])
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/participants",
            json={"role": "observer", "name": "One too many"},
            headers=producer,
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "too_many_participants"
        # Revoking one does not make room: revoked links stay in the log and the list.
        r = await api.http.delete(
            f"/api/v1/sessions/{sid}/participants/{added[0]}", headers=producer
        )
        assert r.status_code == 200, r.text
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/participants",
            json={"role": "facilitator", "name": "After a revoke"},
            headers=producer,
        )
        assert r.status_code == 409, r.text
        listed = await api.http.get(f"/api/v1/sessions/{sid}/participants", headers=producer)
        assert len(listed.json()) == 50
        # Rotating replaces a link; it adds no participant and stays allowed.
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/participants/{added[1]}/rotate", headers=producer
        )
        assert r.status_code == 201, r.text
        # Another session has its own 50.
        other = await api.create_session()
        r = await api.http.post(
            f"/api/v1/sessions/{other['session']['id']}/participants",
            json={"role": "observer", "name": "Elsewhere"},
            headers=api.auth(other["tokens"]["producer"]),
        )
        assert r.status_code == 201, r.text
    finally:
        await api.close()
        await server.stop()


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


async def test_management_requests_are_rate_limited_per_token(tmp_path: Path) -> None:
    # The default burst (20) with a slow refill, so that the test's own pace earns nothing.
    server, api = await _server(tmp_path, MANAGE_PER_S="0.1")
    try:
        s = await api.create_session()
        sid, producer = s["session"]["id"], api.auth(s["tokens"]["producer"])
        base = f"/api/v1/sessions/{sid}"
        people = (await api.http.get(f"{base}/participants", headers=producer)).json()
        facilitator = next(p for p in people if p["role"] == "facilitator")["participant_id"]
        presets = (await api.http.get(f"{base}/presets", headers=producer)).json()["presets"]
        calls: list[Any] = [
            lambda i: api.http.patch(base, json={"title": f"Title {i}"}, headers=producer),
            lambda i: api.http.post(
                f"{base}/participants", json={"role": "observer", "name": f"O{i}"}, headers=producer
            ),
            lambda i: api.http.get(f"{base}/participants", headers=producer),
            lambda i: api.http.post(f"{base}/participants/{facilitator}/rotate", headers=producer),
            lambda i: api.http.put(f"{base}/presets", json={"presets": presets}, headers=producer),
        ]
        # 19 so far would be too many with the GETs above: one bucket for all these routes.
        served = 1  # the GET of the participants above
        for i in range(19):
            r = await calls[i % len(calls)](i)
            assert r.status_code in (200, 201), (i, r.text)
            served += 1
        assert served == 20
        for call in calls:
            assert_429(await call(99))
        revoke = await api.http.delete(f"{base}/participants/{facilitator}", headers=producer)
        assert_429(revoke)
        # Another token of the session has a budget of its own; sends are not management.
        observer = api.auth(s["tokens"]["observer"])
        assert (await api.http.get(f"{base}/participants", headers=observer)).status_code == 403
        note = {"kind": "note", "body": {"text": "still fine"}}
        assert (
            await api.http.post(f"{base}/events", json=note, headers=producer)
        ).status_code == 201
        # The budget refills.
        r = await calls[0](100)
        assert_429(r)
        clock.advance(int(r.headers["Retry-After"]) + 10)
        assert (await calls[0](101)).status_code == 200
    finally:
        await api.close()
        await server.stop()


async def test_after_session_end_title_roster_and_agenda_are_a_record(
    api: Api, session: dict[str, Any]
) -> None:
    sid, producer = session["session"]["id"], api.auth(session["tokens"]["producer"])
    base = f"/api/v1/sessions/{sid}"
    r = await api.http.patch(base, json={"title": "Renamed while live"}, headers=producer)
    assert r.status_code == 200, r.text
    for kind in ("session.start", "session.end"):
        r = await api.http.post(f"{base}/events", json={"kind": kind, "body": {}}, headers=producer)
        assert r.status_code == 201, r.text
    for change in (
        {"title": "Renamed afterwards"},
        {"roster": ["Someone New"]},
        {"agenda": [{"title": "Rewritten", "minutes": 5}]},
    ):
        r = await api.http.patch(base, json=change, headers=producer)
        assert r.status_code == 409, (change, r.text)
        assert r.json()["error"]["code"] == "session_ended"
    view = (await api.http.get(base, headers=producer)).json()["session"]
    assert view["title"] == "Renamed while live"
    assert view["roster"] == session["session"]["roster"]
    assert view["agenda"] == session["session"]["agenda"]
    # Notes after the end are still accepted (the debrief's).
    note = {"kind": "note", "body": {"text": "for the record"}}
    assert (await api.http.post(f"{base}/events", json=note, headers=producer)).status_code == 201
