"""Text and numbers: lone surrogates, NUL and control characters, integers past 2^53-1.

Every one is refused with a 4xx ``{"error"}`` or an error frame, stores nothing, and never
gives a 500 or a traceback, on SQLite and on PostgreSQL alike (each test runs on both)."""

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.storage import snapshot
from tests.support import Api, Client, Server, ws_connect

SAFE_MAX = 2**53 - 1
SURROGATE = "Maria \ud83d"  # a lone high surrogate: cannot be encoded as UTF-8


def raw_json(obj: Any) -> str:
    """JSON text that may carry lone surrogates (as \\ud83d escapes), as a client could send."""
    return json.dumps(obj)


BAD_CREATES: list[tuple[str, dict[str, Any]]] = [
    ("a lone surrogate in the roster", {"title": "t", "roster": [SURROGATE]}),
    ("NUL in the roster", {"title": "t", "roster": ["Ma\x00ria"]}),
    ("NUL in the title", {"title": "Class\x00"}),
    ("a lone surrogate in the title", {"title": "Class \udc00"}),
    ("a bell in the title", {"title": "Class \x07"}),
    ("a newline in the title", {"title": "Class\nTwo"}),
    ("a C1 control in a name", {"title": "t", "producer_name": "Pat\x85"}),
    ("NUL in a facilitator name", {"title": "t", "facilitator_name": "F\x00"}),
    ("NUL in an agenda title", {"title": "t", "agenda": [{"title": "A\x00", "minutes": 5}]}),
    ("NUL in planned_start", {"title": "t", "planned_start": "2026-01-01T10:00:00Z\x00"}),
    ("a lone surrogate in a copy token", {"title": "t", "copy_presets_token": "\ud800"}),
    ("escape in the observer name", {"title": "t", "observer_name": "\x1b[31mred"}),
]


async def test_creating_a_session_with_bad_text_is_422_and_stores_nothing(
    db_server: Server, db_api: Api
) -> None:
    for what, body in BAD_CREATES:
        r = await db_api.http.post(
            "/api/v1/sessions",
            content=raw_json(body),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, (what, r.text)
        assert r.json()["error"]["code"] == "invalid_input", (what, r.text)
    stored = await snapshot(db_server.database_url)
    assert stored["sessions"] == [] and stored["participants"] == []


async def test_a_bad_roster_or_title_in_a_patch_changes_nothing_and_the_session_still_works(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Kept", roster=["Maria", "Ahmed"])
    sid, tok = s["session"]["id"], s["tokens"]["producer"]
    before = await snapshot(db_server.database_url)
    for change in (
        {"roster": [SURROGATE]},
        {"roster": ["Maria", "A\x00"]},
        {"title": "New\x00"},
        {"title": "   "},
        {"agenda": [{"title": "\ud800", "minutes": 5}]},
        {"title": "ok", "roster": ["x\x7f"]},  # one bad field: the good one is not kept either
    ):
        r = await db_api.http.patch(
            f"/api/v1/sessions/{sid}",
            content=raw_json(change),
            headers={**db_api.auth(tok), "content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    assert await snapshot(db_server.database_url) == before
    # Nothing was poisoned: the session reads, exports and says welcome as before.
    view = await db_api.http.get(f"/api/v1/sessions/{sid}", headers=db_api.auth(tok))
    assert view.status_code == 200 and view.json()["session"]["roster"] == ["Maria", "Ahmed"]
    export = await db_api.http.get(f"/api/v1/sessions/{sid}/export", headers=db_api.auth(tok))
    assert export.status_code == 200 and export.json()["session"]["title"] == "Kept"
    c = Client(db_server.ws_url, tok)
    try:
        assert (await c.connect())["session"]["title"] == "Kept"
    finally:
        await c.close()


async def test_bad_names_labels_and_event_text_are_refused_and_store_nothing(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Names", roster=["Maria"])
    sid, tok = s["session"]["id"], s["tokens"]["producer"]
    h = {**db_api.auth(tok), "content-type": "application/json"}
    before = await snapshot(db_server.database_url)
    cases: list[tuple[str, str, Any, str]] = [
        ("POST", "participants", {"role": "facilitator", "name": "Co\x00"}, "invalid_input"),
        ("POST", "participants", {"role": "observer", "name": SURROGATE}, "invalid_input"),
        (
            "PUT",
            "presets",
            [{"preset_id": "p1", "label": "Go\x00", "kind": "note", "body": {"text": "x"}}],
            "invalid_input",
        ),
        ("POST", "events", {"kind": "note", "body": {"text": "nul \x00 here"}}, "invalid_body"),
        ("POST", "events", {"kind": "note", "body": {"text": SURROGATE}}, "invalid_body"),
        ("POST", "events", {"kind": "note", "body": {"text": "cr\r"}}, "invalid_body"),
        (
            "POST",
            "events",
            {"kind": "note", "body": {"text": "x", "tags": ["a\nb"]}},
            "invalid_body",
        ),
        (
            "POST",
            "events",
            {"kind": "flag.learner", "body": {"learner": "M\x00", "flag": "hand"}},
            "invalid_body",
        ),
        ("POST", "events", {"kind": "alert.cancel", "body": {"ref": 2**53}}, "invalid_body"),
        ("POST", "events", {"kind": "alert.cancel", "body": {"ref": 2**63}}, "invalid_body"),
        ("POST", "events", {"kind": "alert.cancel", "body": {"ref": 2**64}}, "invalid_body"),
        ("POST", "events", {"kind": "note", "body": {"text": "x", "\ud800": 1}}, "invalid_body"),
        ("POST", "events", {"kind": "note", "\ud800": 1}, "invalid_input"),
        ("POST", "events", {"id": "a\nb", "kind": "note", "body": {"text": "x"}}, "invalid_id"),
        ("POST", "events", {"id": "ok\n", "kind": "note", "body": {"text": "x"}}, "invalid_id"),
    ]
    for method, path, body, code in cases:
        r = await db_api.http.request(
            method, f"/api/v1/sessions/{sid}/{path}", content=raw_json(body), headers=h
        )
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
    assert await snapshot(db_server.database_url) == before
    # Free text keeps tab and newline.
    r = await db_api.http.post(
        f"/api/v1/sessions/{sid}/events",
        json={"kind": "note", "body": {"text": "line one\n\tline two"}},
        headers=db_api.auth(tok),
    )
    assert r.status_code == 201 and r.json()["body"]["text"] == "line one\n\tline two"


async def test_integers_past_2_53_in_queries_and_paths_are_422(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Numbers")
    sid, h = s["session"]["id"], db_api.auth(s["tokens"]["producer"])
    for after in (SAFE_MAX + 1, 2**63, 2**64, 10**30):
        r = await db_api.http.get(
            f"/api/v1/sessions/{sid}/events", params={"after": after}, headers=h
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
        r = await db_api.http.get(
            f"/api/v1/sessions/{sid}/events", params={"after": after, "format": "csv"}, headers=h
        )
        assert r.status_code == 422, r.text
    for seq in (SAFE_MAX + 1, 2**63, 2**64):
        r = await db_api.http.get(f"/api/v1/sessions/{sid}/events/{seq}/status", headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = await db_api.http.get(
        f"/api/v1/sessions/{sid}/events", params={"after": SAFE_MAX}, headers=h
    )
    assert r.status_code == 200 and r.json()["events"] == []
    r = await db_api.http.get(f"/api/v1/sessions/{sid}/events/{SAFE_MAX}/status", headers=h)
    assert r.status_code == 404


async def test_control_characters_in_paths_queries_and_headers_are_422(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Params")
    sid, tok = s["session"]["id"], s["tokens"]["producer"]
    h = db_api.auth(tok)
    before = await snapshot(db_server.database_url)
    for path in (
        f"/api/v1/sessions/{sid}%00",
        "/api/v1/sessions/%00/events",
        f"/api/v1/sessions/{sid}/presets/a%01b/send",
    ):
        method = "POST" if path.endswith("/send") else "GET"
        r = await db_api.http.request(method, path, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", (path, r.text)
    r = await db_api.http.get(
        f"/api/v1/sessions/{sid}/events", params={"format": "json\x00"}, headers=h
    )
    assert r.status_code == 422
    r = await db_api.http.get(f"/api/v1/sessions/{sid}/events", params={"x\x00": "1"}, headers=h)
    assert r.status_code == 422
    # Header bytes 0x80-0x9f arrive as C1 control characters.
    r = await db_api.http.post(
        f"/api/v1/sessions/{sid}/events",
        json={"kind": "note", "body": {"text": "x"}},
        headers={**h, "Idempotency-Key": b"key\x85"},  # type: ignore[dict-item]
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = await db_api.http.get(
        f"/api/v1/sessions/{sid}",
        headers={"Authorization": b"Bearer " + tok.encode() + b"\x9b"},  # type: ignore[dict-item]
    )
    assert r.status_code == 422, r.text
    assert await snapshot(db_server.database_url) == before


# -- the socket -------------------------------------------------------------------------------


async def _closed_code(ws: Any) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_before_hello_deep_nesting_and_huge_since_get_error_frames_then_hello_works(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Pre-hello")
    tok = s["tokens"]["producer"]
    async with ws_connect(db_server.ws_url) as ws:
        bad: list[tuple[str, str]] = [
            ("[" * 8000, "invalid_json"),
            ("[" * 8000 + "]" * 8000, "invalid_json"),
            ('{"type":"hello","x":' + "[" * 100 + "]" * 100 + "}", "invalid_frame"),
            (json.dumps({"type": "hello", "token": tok, "since": SAFE_MAX + 1}), "invalid_frame"),
            (json.dumps({"type": "hello", "token": tok, "since": 2**63}), "invalid_frame"),
            (json.dumps({"type": "hello", "token": tok, "since": 2**64}), "invalid_frame"),
            ('{"type":"hello","since":1' + "0" * 5000 + "}", "invalid_json"),
            ('{"type":"hello","\\ud800":1,"since":-1}', "invalid_frame"),
        ]
        for frame, code in bad:
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["type"] == "error" and reply["code"] == code, (frame[:60], reply)
        await ws.send(json.dumps({"type": "hello", "token": tok, "since": SAFE_MAX}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert welcome["type"] == "welcome"


@pytest.mark.parametrize(
    "token",
    ["\ud83d", "tok\udc00en", "tok\x00en", "tok\nen", "\x1b"],
    ids=["lone surrogate", "surrogate inside", "NUL", "newline", "escape"],
)
async def test_a_token_that_is_not_clean_text_closes_with_4401(
    db_server: Server, db_api: Api, token: str
) -> None:
    async with ws_connect(db_server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert await _closed_code(ws) == 4401


async def test_after_hello_bad_text_and_huge_ints_get_error_frames_and_store_nothing(
    db_server: Server, db_api: Api
) -> None:
    s = await db_api.create_session(title="Frames", roster=["Maria"])
    c = Client(db_server.ws_url, s["tokens"]["producer"])
    await c.connect()
    try:
        await c.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "presence")
        before = await snapshot(db_server.database_url)
        frames: list[tuple[str, str]] = [
            (
                raw_json({"type": "send", "id": "t1", "kind": "note", "body": {"text": "\x00"}}),
                "invalid_body",
            ),
            (
                raw_json({"type": "send", "id": "t2", "kind": "note", "body": {"text": SURROGATE}}),
                "invalid_body",
            ),
            (
                raw_json(
                    {
                        "type": "send",
                        "id": "t3",
                        "kind": "flag.learner",
                        "body": {"learner": "\ud800", "flag": "hand"},
                    }
                ),
                "invalid_body",
            ),
            (
                raw_json(
                    {"type": "send", "id": "t4", "kind": "alert.cancel", "body": {"ref": 2**53}}
                ),
                "invalid_frame",
            ),
            (
                raw_json(
                    {"type": "send", "id": "t5", "kind": "alert.cancel", "body": {"ref": 2**63}}
                ),
                "invalid_frame",
            ),
            (
                raw_json(
                    {"type": "send", "id": "t6", "kind": "alert.cancel", "body": {"ref": 2**64}}
                ),
                "invalid_frame",
            ),
            (
                raw_json(
                    {
                        "type": "send",
                        "id": "t7",
                        "kind": "ack",
                        "body": {"ref": SAFE_MAX, "status": "done"},
                    }
                ),
                "kind_not_allowed",
            ),
            (
                raw_json(
                    {"type": "send", "id": "t8", "kind": "alert.cancel", "body": {"ref": SAFE_MAX}}
                ),
                "invalid_body",
            ),
            (
                raw_json(
                    {"type": "send", "id": "t9", "kind": "note", "body": {"text": "x"}, "\ud800": 1}
                ),
                "invalid_frame",
            ),
            (
                raw_json({"type": "send", "id": "t10\n", "kind": "note", "body": {"text": "x"}}),
                "invalid_id",
            ),
            ('{"type":"ping","t":' + "[" * 40 + "]" * 40 + "}", "invalid_frame"),
            ('{"type":"ping","t":' + "[" * 8000 + "}", "invalid_json"),
        ]
        for frame, code in frames:
            n = len(c.frames)
            await c.send_raw(frame)
            err = await c.wait_for(
                lambda f, n=n: f["type"] == "error" and c.frames.index(f) >= n, timeout=3
            )
            assert err["code"] == code, (frame[:80], err)
            assert err["message"]
        # A ping whose t holds a lone surrogate still gets its pong, and the socket lives.
        await c.send_raw('{"type":"ping","t":"\\ud83d"}')
        pong = await c.wait_for(lambda f: f["type"] == "pong")
        assert pong["t"] == "\ud83d"
        assert await snapshot(db_server.database_url) == before
        ok = await c.send("note", {"text": "still here"})
        assert ok["type"] == "sent"
    finally:
        await c.close()
