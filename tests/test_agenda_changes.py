"""The agenda changed with PATCH while planned or live: segments not started yet change,
move and go freely; a started one keeps its place, title and minutes (409 segment_started,
nothing stored), on SQLite and on PostgreSQL alike."""

from typing import Any

from tests.support import Api

WELCOME = {"title": "Welcome", "minutes": 10}
PRACTICE = {"title": "Practice", "minutes": 20}
CLOSE = {"title": "Close", "minutes": 5}


class Producer:
    def __init__(self, api: Api, created: dict[str, Any]) -> None:
        self.api = api
        self.url = f"/api/v1/sessions/{created['session']['id']}"
        self.headers = api.auth(created["tokens"]["producer"])

    async def patch(self, **change: Any) -> Any:
        return await self.api.http.patch(self.url, json=change, headers=self.headers)

    async def send(self, kind: str, body: dict[str, Any] | None = None) -> None:
        r = await self.api.http.post(
            f"{self.url}/events", json={"kind": kind, "body": body or {}}, headers=self.headers
        )
        assert r.status_code == 201, r.text

    async def view(self) -> dict[str, Any]:
        r = await self.api.http.get(self.url, headers=self.headers)
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view


async def producer_of(api: Api) -> Producer:
    created = await api.create_session(title="Agenda", agenda=[WELCOME, PRACTICE, CLOSE])
    return Producer(api, created)


def titles(view: dict[str, Any]) -> list[tuple[str, float]]:
    return [(s["title"], s["minutes"]) for s in view["session"]["agenda"]]


async def test_a_planned_agenda_changes_moves_and_shrinks_freely(db_api: Api) -> None:
    p = await producer_of(db_api)
    r = await p.patch(agenda=[{**PRACTICE, "minutes": 25}, WELCOME])
    assert r.status_code == 200, r.text
    assert titles(r.json()) == [("Practice", 25), ("Welcome", 10)]
    segments = r.json()["state"]["segments"]
    assert [(s["title"], s["planned_minutes"], s["state"]) for s in segments] == [
        ("Practice", 25, "pending"),
        ("Welcome", 10, "pending"),
    ]


async def test_a_started_segment_keeps_its_place_title_and_minutes(db_api: Api) -> None:
    p = await producer_of(db_api)
    await p.send("session.start")
    await p.send("segment.start", {"index": 0})
    before = await p.view()
    for agenda in (
        [PRACTICE, WELCOME, CLOSE],  # moved down
        [{**WELCOME, "minutes": 15}, PRACTICE, CLOSE],  # longer (segment.extend is for that)
        [{**WELCOME, "title": "Hello"}, PRACTICE, CLOSE],  # renamed
        [PRACTICE, CLOSE],  # deleted
        [],
    ):
        r = await p.patch(title="Not kept either", agenda=agenda)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "segment_started"
        assert "segment 1 (Welcome, 10 min) has started" in error["message"]
    assert await p.view() == before

    # The segments not started yet still change, move and go; more are added after them.
    r = await p.patch(agenda=[WELCOME, {**CLOSE, "minutes": 7}, {"title": "Q&A", "minutes": 8}])
    assert r.status_code == 200, r.text
    state = r.json()["state"]
    assert state["segment"]["title"] == "Welcome" and state["segment"]["index"] == 0
    assert state["next_segment"] == {"index": 1, "title": "Close", "planned_minutes": 7}
    assert [s["state"] for s in state["segments"]] == ["running", "pending", "pending"]


async def test_a_pending_segment_before_a_started_one_cannot_go(db_api: Api) -> None:
    p = await producer_of(db_api)
    await p.send("session.start")
    await p.send("segment.start", {"index": 0})
    await p.send("segment.start", {"index": 2})  # Practice skipped
    r = await p.patch(agenda=[WELCOME, CLOSE])  # would move Close to index 1
    assert r.status_code == 409 and "segment 3 (Close, 5 min)" in r.json()["error"]["message"]
    r = await p.patch(agenda=[WELCOME, {"title": "Practice (skipped)", "minutes": 1}, CLOSE])
    assert r.status_code == 200, r.text
    assert titles(r.json())[1] == ("Practice (skipped)", 1)
