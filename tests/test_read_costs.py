"""Reads are limited by what they cost, not by how many there are (issue 22, item 1).

The review: ``GET …/events?after=0&limit=5000`` had no limit at all, and eight tokens looping
on it pushed another session's p99 past a second; CSV and export re-read the whole log on
the event loop. Now every read that can be large is charged to the heavy-read budget by the
rows it may return, one large read per session streams at a time, and refusals are slow.
The figures under load are benchmarks (bench/read_amplification.py, docs/security.md).
"""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.log import Author, read_events
from app.services import append_as
from tests.inprocess import InProcessServer
from tests.support import Api

FAST_SENDS = {"RATE_PER_S": "1000", "RATE_BURST": "1000"}


async def _server(tmp_path: Path, **env: str) -> tuple[InProcessServer, Api]:
    settings = {f"BACKCHANNEL_{k}": v for k, v in {**FAST_SENDS, **env}.items()}
    server = await InProcessServer(tmp_path, env=settings).start()
    return server, Api(server.url)


async def _log_notes(api: Api, session: dict[str, Any], n: int) -> None:
    sid, producer = session["session"]["id"], api.auth(session["tokens"]["producer"])
    for i in range(n):
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events",
            json={"kind": "note", "body": {"text": f"note {i}"}},
            headers=producer,
        )
        assert r.status_code == 201, r.text


def assert_429(r: httpx.Response, at_least_s: float = 1) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= at_least_s, r.headers["Retry-After"]


def test_the_read_limits_default_to_the_documented_figures() -> None:
    s = Settings(_env_file=None)
    assert s.heavy_read_rows_per_unit == 1000
    assert (s.read_per_s, s.read_burst) == (10.0, 20)
    assert (s.read_session_per_s, s.read_session_burst) == (30.0, 60)
    assert s.refusal_delay_s == 0.5


async def test_a_listing_page_has_at_most_1000_events(api: Api, session: dict[str, Any]) -> None:
    sid, producer = session["session"]["id"], api.auth(session["tokens"]["producer"])
    ok = await api.http.get(f"/api/v1/sessions/{sid}/events?limit=1000", headers=producer)
    assert ok.status_code == 200, ok.text
    r = await api.http.get(f"/api/v1/sessions/{sid}/events?limit=1001", headers=producer)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"


async def test_reads_are_charged_by_the_rows_they_return(tmp_path: Path) -> None:
    # One unit per 10 rows here (1,000 by default), a budget of 5 units per token that does
    # not refill during the test, and a session budget that does not get in the way.
    server, api = await _server(
        tmp_path,
        HEAVY_READ_ROWS_PER_UNIT="10",
        HEAVY_READ_PER_S="0.01",
        HEAVY_READ_SESSION_BURST="1000",
    )
    try:
        s = await api.create_session()
        await _log_notes(api, s, 100)
        sid, producer = s["session"]["id"], api.auth(s["tokens"]["producer"])
        base = f"/api/v1/sessions/{sid}"
        # Small pages cost little: forty pages of one event (0.1 unit each) are 4 units.
        for after in range(40):
            r = await api.http.get(f"{base}/events?after={after}&limit=1", headers=producer)
            assert r.status_code == 200, r.text
            assert [e["seq"] for e in r.json()["events"]] == [after + 1]
        # The export of the whole log (100 rows: 10 units) is allowed while the budget is
        # not in debt, and leaves it 9 units in debt...
        export = await api.http.get(f"{base}/export", headers=producer)
        assert export.status_code == 200, export.text
        assert len(export.json()["events"]) == 100
        # ... which the next read, even of one event, waits for: (0.1 + 9) / 0.01 s.
        r = await api.http.get(f"{base}/events?after=0&limit=1", headers=producer)
        assert_429(r, at_least_s=900)
        # Another token of the session has its own budget.
        observer = api.auth(s["tokens"]["observer"])
        r = await api.http.get(f"{base}/events?after=0&limit=30", headers=observer)
        assert r.status_code == 200, r.text
        assert len(r.json()["events"]) == 30
    finally:
        await api.close()
        await server.stop()


async def test_a_sessions_readers_share_one_budget(tmp_path: Path) -> None:
    server, api = await _server(
        tmp_path,
        HEAVY_READ_ROWS_PER_UNIT="10",
        HEAVY_READ_SESSION_PER_S="0.01",
        HEAVY_READ_SESSION_BURST="5",
        HEAVY_READ_BURST="1000",
    )
    try:
        s = await api.create_session()
        await _log_notes(api, s, 60)
        sid = s["session"]["id"]
        csv = await api.http.get(
            f"/api/v1/sessions/{sid}/events?format=csv", headers=api.auth(s["tokens"]["producer"])
        )
        assert csv.status_code == 200, csv.text
        assert len(csv.text.strip().splitlines()) == 61  # the header and 60 rows
        for token in ("observer", "facilitator"):
            r = await api.http.get(
                f"/api/v1/sessions/{sid}/report", headers=api.auth(s["tokens"][token])
            )
            assert_429(r, at_least_s=100)
    finally:
        await api.close()
        await server.stop()


async def test_a_refusal_is_answered_after_a_short_wait(tmp_path: Path) -> None:
    server, api = await _server(tmp_path, HEAVY_READ_PER_S="0.01", HEAVY_READ_BURST="1")
    try:
        s = await api.create_session()
        sid, producer = s["session"]["id"], api.auth(s["tokens"]["producer"])
        assert (await api.http.get(f"/api/v1/sessions/{sid}/report", headers=producer)).is_success
        for _ in range(3):
            t0 = time.monotonic()
            r = await api.http.get(f"/api/v1/sessions/{sid}/report", headers=producer)
            took = time.monotonic() - t0
            assert_429(r)
            assert 0.45 <= took < 2.0, took  # half a second, not at once, not the Retry-After
    finally:
        await api.close()
        await server.stop()


async def test_the_session_its_events_status_and_playbook_are_limited_per_token(
    tmp_path: Path,
) -> None:
    server, api = await _server(tmp_path, READ_PER_S="0.01", READ_BURST="4")
    try:
        s = await api.create_session()
        sid, producer = s["session"]["id"], api.auth(s["tokens"]["producer"])
        base = f"/api/v1/sessions/{sid}"
        sent = await api.http.post(
            f"{base}/events",
            json={"kind": "prompt.time", "body": {"text": "5 min left"}},
            headers=producer,
        )
        seq = sent.json()["seq"]
        cheap = [base, f"{base}/events/{seq}/status", f"{base}/presets", base]
        for path in cheap:
            r = await api.http.get(path, headers=producer)
            assert r.status_code == 200, (path, r.text)
        for path in cheap[:3]:
            assert_429(await api.http.get(path, headers=producer))
        # Per token: the observer's own reads are untouched.
        r = await api.http.get(base, headers=api.auth(s["tokens"]["observer"]))
        assert r.status_code == 200, r.text
    finally:
        await api.close()
        await server.stop()


async def test_cheap_reads_of_one_session_share_a_budget_over_all_its_tokens(
    tmp_path: Path,
) -> None:
    server, api = await _server(tmp_path, READ_SESSION_PER_S="0.01", READ_SESSION_BURST="6")
    try:
        s = await api.create_session()
        other = await api.create_session()
        sid = s["session"]["id"]
        tokens = [s["tokens"][role] for role in ("producer", "observer", "facilitator")]
        for token in tokens:  # three tokens, two reads each: within every token's own budget
            for _ in range(2):
                r = await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(token))
                assert r.status_code == 200, r.text
        for token in tokens:  # the session's budget is spent, whoever asks
            assert_429(await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(token)))
        # Another session's reads are untouched.
        path = f"/api/v1/sessions/{other['session']['id']}"
        r = await api.http.get(path, headers=api.auth(other["tokens"]["producer"]))
        assert r.status_code == 200, r.text
    finally:
        await api.close()
        await server.stop()


async def test_one_large_read_of_a_session_streams_at_a_time(tmp_path: Path) -> None:
    server, api = await _server(tmp_path)
    try:
        s, other = await api.create_session(), await api.create_session()
        sid = s["session"]["id"]
        slots = server.app.state.services.read_slots
        release = await slots.take(sid)  # as a large read of this session would, streaming
        try:
            t0 = time.monotonic()
            r = await api.http.get(
                f"/api/v1/sessions/{sid}/export", headers=api.auth(s["tokens"]["producer"])
            )
            assert_429(r)
            assert time.monotonic() - t0 >= 2.0  # it waited its turn for 2 s first
            # Another session's reads do not wait for this one.
            r = await api.http.get(
                f"/api/v1/sessions/{other['session']['id']}/export",
                headers=api.auth(other["tokens"]["producer"]),
            )
            assert r.status_code == 200, r.text
            # A read that arrives while the slot is busy is served once it is given back.
            waiting = asyncio.create_task(
                api.http.get(
                    f"/api/v1/sessions/{sid}/report", headers=api.auth(s["tokens"]["observer"])
                )
            )
            await asyncio.sleep(0.3)
            assert not waiting.done()
        finally:
            release()
        assert (await waiting).status_code == 200
    finally:
        await api.close()
        await server.stop()


async def test_a_paged_read_stops_at_the_seq_it_started_from(
    api: Api, session: dict[str, Any], server: InProcessServer
) -> None:
    await _log_notes(api, session, 5)
    db = server.app.state.services.db
    sid = session["session"]["id"]
    page = await read_events(db, sid, after=1, until=3)
    assert [e.seq for e in page] == [2, 3]


async def test_streamed_reads_equal_the_log_on_both_databases(
    db_api: Api, db_server: InProcessServer
) -> None:
    """The streams read plain rows with the body as stored JSON text (SQLite's text,
    PostgreSQL's jsonb as text): what they send is the log as the listing gives it."""
    s = await db_api.create_session()
    sid, producer = s["session"]["id"], db_api.auth(s["tokens"]["producer"])
    me = next(p for p in s["participants"] if p["role"] == "producer")
    author = Author(me["participant_id"], "producer", me["name"])
    texts = ["plain", 'quotes " and \\ back', "ünïcödé ✓", "=1+1 formula", "x" * 500]
    services = db_server.app.state.services
    for i in range(450):  # three stream pages and a bit (logged without the HTTP send limit)
        body = {"text": texts[i % len(texts)], "tags": ["a", "b"]} if i % 3 else {"text": "t"}
        await append_as(services, sid, author, "note", body, None)
    listed = await db_api.events(sid, s["tokens"]["producer"])
    export = await db_api.http.get(f"/api/v1/sessions/{sid}/export", headers=producer)
    assert export.status_code == 200, export.text
    assert export.json()["events"] == listed
    page = await db_api.http.get(
        f"/api/v1/sessions/{sid}/events?after=0&limit=1000", headers=producer
    )
    assert page.json()["events"] == listed and page.json()["last_seq"] == listed[-1]["seq"]
    csv = await db_api.http.get(f"/api/v1/sessions/{sid}/events?format=csv", headers=producer)
    import csv as csv_module
    import io
    import json

    rows = list(csv_module.DictReader(io.StringIO(csv.text)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in listed]
    for row, event in zip(rows, listed, strict=True):
        assert json.loads(row["body"]) == event["body"]
