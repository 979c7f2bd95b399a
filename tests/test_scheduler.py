"""The server keeps time: automatic prompts, escalation and resurfacing, exactly once.

Each test runs a real server with the test clock hook on and moves its clock forward
(``POST /api/v1/_test/clock``) instead of sleeping; the hook answers once the scheduler
has written whatever that made due.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.clock import parse_iso
from tests.support import (
    TEST_HOOKS,
    Api,
    Client,
    Server,
    postgres_database,
    shared_redis_url,
)

AGENDA = [
    {"title": "Welcome", "minutes": 10},
    {"title": "Practice", "minutes": 20},
    {"title": "Close", "minutes": 5},
]


async def post(api: Api, s: dict[str, Any], role: str, kind: str, body: Any = None) -> Any:
    r = await api.http.post(
        f"/api/v1/sessions/{s['session']['id']}/events",
        json={"kind": kind, "body": body or {}},
        headers=api.auth(s["tokens"][role]),
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


async def advance(api: Api, seconds: float) -> None:
    r = await api.http.post("/api/v1/_test/clock", json={"advance_s": seconds})
    assert r.status_code == 200, r.text


async def system_events(api: Api, s: dict[str, Any]) -> list[dict[str, Any]]:
    events = await api.events(s["session"]["id"], s["tokens"]["observer"])
    return [e for e in events if e["author"]["role"] == "system" and e["kind"] != "presence"]


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["body"]["text"] for e in events if e["kind"] == "prompt.time"]


async def test_thresholds_fire_once_in_order_with_nobody_connected(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    await post(timed_api, s, "producer", "session.start")
    start = await post(timed_api, s, "producer", "segment.start", {"index": 0})
    await advance(timed_api, 4 * 60 + 50)
    assert await system_events(timed_api, s) == []
    await advance(timed_api, 15)  # 5 min left
    assert texts(await system_events(timed_api, s)) == ["5 min left in Welcome"]
    await advance(timed_api, 4 * 60)  # 1 min left
    await advance(timed_api, 60)  # time is up
    await advance(timed_api, 10 * 60)  # long over: nothing more
    got = await system_events(timed_api, s)
    assert texts(got) == [
        "5 min left in Welcome",
        "1 min left in Welcome",
        "Time is up for Welcome",
    ]
    assert [e["body"]["minutes_left"] for e in got] == [5, 1, 0]
    assert {e["body"]["segment"] for e in got} == {0}
    assert [e["id"] for e in got] == [f"auto:0:{start['seq']}:{t}" for t in (5, 1, 0)]
    assert all(e["author"]["name"] == "Backchannel" for e in got)


async def test_a_connected_facilitator_receives_the_prompts_live(
    timed_server: Server, timed_api: Api, clients: list[Client]
) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    facilitator = Client(timed_server.ws_url, s["tokens"]["facilitator"])
    clients.append(facilitator)
    await facilitator.connect()
    await post(timed_api, s, "producer", "segment.start", {"index": 2})  # "Close", 5 min
    state = (
        await timed_api.http.get(
            f"/api/v1/sessions/{s['session']['id']}",
            headers=timed_api.auth(s["tokens"]["facilitator"]),
        )
    ).json()["state"]
    assert state["segment"]["title"] == "Close"
    assert state["segment"]["planned_minutes"] == 5
    await advance(timed_api, 4 * 60)
    frame = await facilitator.wait_for(
        lambda f: f["type"] == "event" and f["event"]["kind"] == "prompt.time"
    )
    # A 5-minute segment gets no "5 min left" at its start: the first prompt is 1 min left.
    body = {"text": "1 min left in Close", "minutes_left": 1, "segment": 2}
    assert frame["event"]["body"] == body


async def test_an_extend_moves_the_prompts_later(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    await post(timed_api, s, "producer", "segment.start", {"index": 1})  # Practice, 20 min
    await advance(timed_api, 14 * 60)
    await post(timed_api, s, "producer", "segment.extend", {"index": 1, "minutes": 5})
    r = await timed_api.http.get(
        f"/api/v1/sessions/{s['session']['id']}", headers=timed_api.auth(s["tokens"]["facilitator"])
    )
    segment = r.json()["state"]["segment"]
    planned = parse_iso(segment["planned_end"]) - parse_iso(segment["started_at"])
    assert (segment["extended_minutes"], planned) == (5, 25 * 60_000)
    await advance(timed_api, 2 * 60)  # 16 min in: would have been 4 min left
    assert await system_events(timed_api, s) == []
    await advance(timed_api, 4 * 60 + 5)  # 20 min in: 5 min left of 25
    assert texts(await system_events(timed_api, s)) == ["5 min left in Practice"]
    await post(timed_api, s, "producer", "segment.extend", {"index": 1, "minutes": -2})
    await advance(timed_api, 1)  # 20 min in, 23 planned: 3 left, nothing new
    assert len(await system_events(timed_api, s)) == 1
    await advance(timed_api, 2 * 60)  # 22 min in: 1 min left
    assert texts(await system_events(timed_api, s))[-1] == "1 min left in Practice"


async def test_an_ended_segment_fires_nothing_more(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    await post(timed_api, s, "producer", "segment.start", {"index": 0})
    await advance(timed_api, 5 * 60 + 1)
    await post(timed_api, s, "producer", "segment.end", {"index": 0})
    await advance(timed_api, 30 * 60)
    assert texts(await system_events(timed_api, s)) == ["5 min left in Welcome"]


async def test_starting_the_next_segment_stops_the_previous_ones_prompts(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    await post(timed_api, s, "producer", "segment.start", {"index": 0})
    await advance(timed_api, 2 * 60)
    await post(timed_api, s, "producer", "segment.start", {"index": 1})
    await advance(timed_api, 15 * 60 + 1)
    assert texts(await system_events(timed_api, s)) == ["5 min left in Practice"]


async def test_the_producer_changes_or_switches_off_the_thresholds(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    sid = s["session"]["id"]
    producer = timed_api.auth(s["tokens"]["producer"])
    r = await timed_api.http.patch(
        f"/api/v1/sessions/{sid}", json={"settings": {"auto_prompts": [3]}}, headers=producer
    )
    assert r.status_code == 200, r.text
    await post(timed_api, s, "producer", "segment.start", {"index": 0})
    await advance(timed_api, 7 * 60 + 1)
    assert texts(await system_events(timed_api, s)) == ["3 min left in Welcome"]
    r = await timed_api.http.patch(
        f"/api/v1/sessions/{sid}", json={"settings": {"auto_prompts": []}}, headers=producer
    )
    assert r.status_code == 200, r.text
    await advance(timed_api, 10 * 60)
    assert len(await system_events(timed_api, s)) == 1


async def test_a_restart_in_the_middle_fires_nothing_twice_and_misses_nothing(
    tmp_path: Path,
) -> None:
    srv = Server(tmp_path, env=TEST_HOOKS).start()
    api = Api(srv.url)
    try:
        # Escalation every 60 s: a slow restart stays well inside one interval.
        s = await api.create_session(agenda=AGENDA, settings={"escalate_after_s": 60})
        await post(api, s, "producer", "session.start")
        await post(api, s, "producer", "segment.start", {"index": 1})  # 20 min
        await advance(api, 15 * 60 + 1)
        assert texts(await system_events(api, s)) == ["5 min left in Practice"]
        alert = await post(api, s, "producer", "alert.stop", {"reason": "problem"})
        await advance(api, 61)
        srv.kill()  # a crash: no shutdown handlers
        srv.start()  # a fresh process: its clock is back to real time
        await advance(api, 15 * 60 + 62)  # back where we were: nothing new, nothing twice
        got = await system_events(api, s)
        assert texts(got) == ["5 min left in Practice"]
        assert [e["body"]["level"] for e in got if e["kind"] == "alert.escalated"] == [1]
        await advance(api, 5 * 60)  # the server was "down" past 1 min left and time up
        got = await system_events(api, s)
        assert texts(got) == [
            "5 min left in Practice",
            "1 min left in Practice",
            "Time is up for Practice",
        ]
        levels = [e["body"] for e in got if e["kind"] == "alert.escalated"]
        assert levels == [{"ref": alert["seq"], "level": n} for n in range(1, 6)]
        ids = [e["id"] for e in got]
        assert len(ids) == len(set(ids))
    finally:
        await api.close()
        srv.stop()


async def test_escalation_climbs_each_interval_and_stops_at_ack(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA, settings={"escalate_after_s": 30})
    alert = await post(timed_api, s, "producer", "alert.stop", {"reason": "chat"})
    await advance(timed_api, 25)
    assert await system_events(timed_api, s) == []
    await advance(timed_api, 6)
    await advance(timed_api, 30)
    got = await system_events(timed_api, s)
    assert [e["body"] for e in got] == [
        {"ref": alert["seq"], "level": 1},
        {"ref": alert["seq"], "level": 2},
    ]
    assert [e["id"] for e in got] == [f"esc:{alert['seq']}:1", f"esc:{alert['seq']}:2"]
    await post(timed_api, s, "facilitator", "ack", {"ref": alert["seq"], "status": "done"})
    await advance(timed_api, 10 * 60)
    assert len(await system_events(timed_api, s)) == 2


async def test_escalation_stops_at_cancel_and_is_capped(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)  # default: every 20 s
    first = await post(timed_api, s, "producer", "alert.stop", {"reason": "break"})
    second = await post(timed_api, s, "producer", "alert.stop", {"reason": "problem"})
    await advance(timed_api, 21)
    await post(timed_api, s, "producer", "alert.cancel", {"ref": first["seq"]})
    await advance(timed_api, 30 * 60)  # long past level 5
    got = await system_events(timed_api, s)
    by_ref = [(e["body"]["ref"], e["body"]["level"]) for e in got]
    assert by_ref == [(first["seq"], 1), (second["seq"], 1)] + [
        (second["seq"], n) for n in range(2, 6)
    ]


async def test_a_snoozed_alert_resurfaces_after_its_minutes_and_escalates_again(
    timed_api: Api,
) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    alert = await post(timed_api, s, "producer", "alert.stop", {"reason": "break"})
    await advance(timed_api, 5)
    ack = await post(
        timed_api, s, "facilitator", "ack", {"ref": alert["seq"], "status": "snoozed", "minutes": 2}
    )
    await advance(timed_api, 110)
    assert await system_events(timed_api, s) == []  # no escalation while snoozed
    await advance(timed_api, 11)
    got = await system_events(timed_api, s)
    assert [(e["kind"], e["body"]) for e in got] == [
        ("alert.resurface", {"ref": alert["seq"], "ack": ack["seq"]})
    ]
    state = (
        await timed_api.http.get(
            f"/api/v1/sessions/{s['session']['id']}",
            headers=timed_api.auth(s["tokens"]["producer"]),
        )
    ).json()["state"]
    assert [(a["seq"], a["snoozed_until"]) for a in state["open_alerts"]] == [(alert["seq"], None)]
    await advance(timed_api, 21)
    got = await system_events(timed_api, s)
    assert got[-1]["kind"] == "alert.escalated"
    assert got[-1]["body"] == {"ref": alert["seq"], "level": 1}
    assert got[-1]["id"] == f"esc:{alert['seq']}:{ack['seq']}:1"
    await post(timed_api, s, "facilitator", "ack", {"ref": alert["seq"], "status": "declined"})
    await advance(timed_api, 5 * 60)
    assert len(await system_events(timed_api, s)) == 2


async def test_only_stop_alerts_come_back_after_a_snooze(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    prompt = await post(timed_api, s, "producer", "prompt.time", {"text": "Slow down"})
    body = {"ref": prompt["seq"], "status": "snoozed", "minutes": 1}
    await post(timed_api, s, "facilitator", "ack", body)
    await advance(timed_api, 5 * 60)
    assert await system_events(timed_api, s) == []


async def test_a_client_cannot_take_the_schedulers_id_first(timed_api: Api) -> None:
    """The scheduler's ids are reserved: a client's attempt to log one is refused, so the
    scheduler's own prompt is written (once) and it goes on to the next."""
    s = await timed_api.create_session(agenda=AGENDA)
    start = await post(timed_api, s, "producer", "segment.start", {"index": 0})
    body = {"text": "squatted", "minutes_left": 5, "segment": 0}
    r = await timed_api.http.post(
        f"/api/v1/sessions/{s['session']['id']}/events",
        json={"id": f"auto:0:{start['seq']}:5", "kind": "prompt.time", "body": body},
        headers=timed_api.auth(s["tokens"]["producer"]),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    await advance(timed_api, 5 * 60 + 1)
    await advance(timed_api, 4 * 60)
    events = await timed_api.events(s["session"]["id"], s["tokens"]["producer"])
    prompts = [e for e in events if e["kind"] == "prompt.time"]
    assert [e["body"]["text"] for e in prompts] == [
        "5 min left in Welcome",
        "1 min left in Welcome",
    ]
    assert all(e["author"]["role"] == "system" for e in prompts)


async def test_an_ended_session_stops_all_timers(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=AGENDA)
    await post(timed_api, s, "producer", "session.start")
    await post(timed_api, s, "producer", "segment.start", {"index": 0})
    await post(timed_api, s, "producer", "alert.stop", {"reason": "problem"})
    await post(timed_api, s, "producer", "session.end")
    await advance(timed_api, 60 * 60)
    assert await system_events(timed_api, s) == []


async def test_the_clock_hook_is_absent_without_the_test_setting(api: Api) -> None:
    r = await api.http.post("/api/v1/_test/clock", json={"advance_s": 60})
    assert r.status_code in (404, 405)


# -- several processes on one PostgreSQL database -----------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


async def test_two_processes_on_one_postgres_fire_each_prompt_and_level_once(
    tmp_path: Path, pg_url: str
) -> None:
    broker = shared_redis_url()
    a = Server(tmp_path, database_url=pg_url, broker_url=broker, env=TEST_HOOKS).start()
    b = Server(tmp_path, database_url=pg_url, broker_url=broker, env=TEST_HOOKS)
    api_a, api_b = Api(a.url), Api(b.url)
    try:
        b.start()
        s = await api_a.create_session(agenda=AGENDA, settings={"escalate_after_s": 10})
        await post(api_a, s, "producer", "session.start")
        await post(api_b, s, "producer", "segment.start", {"index": 0})
        alert = await post(api_a, s, "producer", "alert.stop", {"reason": "problem"})
        # Both clocks move together in small steps, so both schedulers race for each event.
        for step in [60, 4 * 60, 60, 3 * 60, 60, 60, 60]:
            await asyncio.gather(advance(api_a, step), advance(api_b, step))
        got = await system_events(api_b, s)
        assert texts(got) == [
            "5 min left in Welcome",
            "1 min left in Welcome",
            "Time is up for Welcome",
        ]
        levels = [e["body"]["level"] for e in got if e["kind"] == "alert.escalated"]
        assert levels == [1, 2, 3, 4, 5]
        assert all(e["body"]["ref"] == alert["seq"] for e in got if e["kind"] == "alert.escalated")
        events = await api_a.events(s["session"]["id"], s["tokens"]["observer"])
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    finally:
        await api_a.close()
        await api_b.close()
        a.stop()
        b.stop()
