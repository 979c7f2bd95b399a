"""``GET …/events?format=csv``: parses with the csv module and matches the log, row for row."""

import csv
import io
import json
from typing import Any

from tests.support import Api

COLUMNS = ["seq", "id", "kind", "at", "author_role", "author_name", "author_id", "text", "body"]


async def post(api: Api, s: dict[str, Any], role: str, kind: str, body: Any) -> None:
    r = await api.http.post(
        f"/api/v1/sessions/{s['session']['id']}/events",
        json={"kind": kind, "body": body},
        headers=api.auth(s["tokens"][role]),
    )
    assert r.status_code == 201, r.text


async def get_csv(api: Api, s: dict[str, Any], role: str, after: int = 0) -> list[dict[str, str]]:
    r = await api.http.get(
        f"/api/v1/sessions/{s['session']['id']}/events",
        params={"format": "csv", "after": after},
        headers=api.auth(s["tokens"][role]),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    reader = csv.reader(io.StringIO(r.text, newline=""))
    rows = list(reader)
    assert rows[0] == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


async def scripted(api: Api, s: dict[str, Any]) -> None:
    await post(api, s, "producer", "session.start", {})
    await post(api, s, "producer", "segment.start", {"index": 0})
    await post(api, s, "producer", "prompt.time", {"text": 'Say "hi", then\nwait, please'})
    await post(api, s, "producer", "flag.learner", {"learner": "José Ñúñez", "flag": "hand"})
    await post(
        api, s, "producer", "flag.learner", {"learner": "=cmd|' /C calc'!A0", "flag": "chat"}
    )
    await post(api, s, "producer", "alert.stop", {"reason": "problem", "text": "-1 slide"})
    await post(api, s, "observer", "note", {"text": "private, for designers", "tags": ["a,b"]})
    await post(api, s, "facilitator", "ack", {"ref": 3, "status": "done", "text": "👍"})
    await post(api, s, "facilitator", "request", {"action": "poll"})


async def test_the_csv_parses_and_matches_the_log_row_for_row(
    api: Api, session: dict[str, Any]
) -> None:
    await scripted(api, session)
    rows = await get_csv(api, session, "producer")
    events = await api.events(session["session"]["id"], session["tokens"]["producer"])
    assert len(rows) == len(events) == 9
    for row, e in zip(rows, events, strict=True):
        assert int(row["seq"]) == e["seq"]
        assert row["id"] == e["id"]
        assert row["kind"] == e["kind"]
        assert row["at"] == e["at"]
        assert row["author_role"] == e["author"]["role"]
        assert row["author_name"] == e["author"]["name"]
        assert row["author_id"] == (e["author"]["participant_id"] or "")
        assert json.loads(row["body"]) == e["body"]
    text = {int(r["seq"]): r["text"] for r in rows}
    assert text[3] == 'Say "hi", then\nwait, please'  # quotes, comma and newline survive
    assert text[4] == "José Ñúñez"
    # Cells a spreadsheet would run as formulas are kept as text.
    assert text[5] == "'=cmd|' /C calc'!A0"
    assert text[6] == "'-1 slide"
    assert text[9] == "poll"


async def test_the_csv_follows_visibility_and_after(api: Api, session: dict[str, Any]) -> None:
    await scripted(api, session)
    facilitator = await get_csv(api, session, "facilitator")
    assert "note" not in {r["kind"] for r in facilitator}
    assert len(facilitator) == 8
    later = await get_csv(api, session, "observer", after=6)
    assert [int(r["seq"]) for r in later] == [7, 8, 9]


async def test_an_empty_log_is_just_the_header(api: Api, session: dict[str, Any]) -> None:
    assert await get_csv(api, session, "producer") == []
