"""Preset variables through the real interfaces: refused when the playbook is saved, filled
from the session's state when sent (HTTP and the panel's socket alike), logged filled."""

from typing import Any

from app.clock import clock
from tests.inprocess import InProcessServer
from tests.support import Api, Client

TEMPLATE = "{facilitator}: {minutes_left} min left in {segment}, then {next} ({{not a variable}})"

PLAYBOOK = [
    {
        "preset_id": "timing",
        "label": "Time check",
        "kind": "prompt.time",
        "body": {"text": TEMPLATE},
        "key": "t",
    },
    {
        "preset_id": "ask",
        "label": "Take the question",
        "kind": "message",
        "body": {"text": "Please take {learner}'s question"},
    },
    {
        "preset_id": "flag-hand",
        "label": "Hand raised",
        "kind": "flag.learner",
        "body": {"learner": "Someone", "flag": "hand", "text": "{learner} has a hand up"},
    },
]


def url(s: dict[str, Any], path: str = "") -> str:
    return f"/api/v1/sessions/{s['session']['id']}{path}"


async def setup(api: Api) -> dict[str, Any]:
    s = await api.create_session(
        agenda=[{"title": "Welcome", "minutes": 10}, {"title": "Practice", "minutes": 20}],
        roster=["Maria Lopez", "Ahmed"],
        facilitator_name="Sam",
    )
    r = await api.http.put(url(s, "/presets"), json=PLAYBOOK, headers=auth(api, s))
    assert r.status_code == 200, r.text
    for kind, body in (("session.start", {}), ("segment.start", {"index": 0})):
        r = await api.http.post(
            url(s, "/events"), json={"kind": kind, "body": body}, headers=auth(api, s)
        )
        assert r.status_code == 201, r.text
    return s


def auth(api: Api, s: dict[str, Any], role: str = "producer") -> dict[str, str]:
    return api.auth(s["tokens"][role])


async def fire(api: Api, s: dict[str, Any], preset: str, **body: Any) -> Any:
    return await api.http.post(
        url(s, f"/presets/{preset}/send"), json=body or None, headers=auth(api, s)
    )


async def test_an_unknown_variable_is_refused_when_the_playbook_is_saved(timed_api: Api) -> None:
    s = await timed_api.create_session()
    bad = [*PLAYBOOK, {**PLAYBOOK[1], "preset_id": "typo", "body": {"text": "Hi {learnr}"}}]
    r = await timed_api.http.put(url(s, "/presets"), json=bad, headers=auth(timed_api, s))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert "{learnr}" in error["message"] and "typo" in error["message"]
    # Nothing of it was stored.
    r = await timed_api.http.get(url(s, "/presets"), headers=auth(timed_api, s))
    assert "typo" not in {p["preset_id"] for p in r.json()["presets"]}


async def test_a_preset_sent_over_http_logs_its_text_filled_from_the_state(
    timed_api: Api,
) -> None:
    s = await setup(timed_api)
    clock.advance(6 * 60 + 30)  # 3 min 30 s of the 10 are left
    r = await fire(timed_api, s, "timing")
    assert r.status_code == 201, r.text
    expected = "Sam: 4 min left in Welcome, then Practice ({not a variable})"
    assert r.json()["body"]["text"] == expected
    logged = await timed_api.events(s["session"]["id"], s["tokens"]["facilitator"])
    assert logged[-1]["body"]["text"] == expected


async def test_learner_is_the_one_named_else_the_last_flagged(timed_api: Api) -> None:
    s = await setup(timed_api)
    r = await fire(timed_api, s, "flag-hand", learner="maria")
    assert r.status_code == 201, r.text
    assert r.json()["body"] == {
        "learner": "Maria Lopez",
        "flag": "hand",
        "text": "Maria Lopez has a hand up",
    }
    r = await fire(timed_api, s, "ask")
    assert r.json()["body"]["text"] == "Please take Maria Lopez's question"
    r = await fire(timed_api, s, "ask", learner="Ahmed")
    assert r.json()["body"]["text"] == "Please take Ahmed's question"


async def test_a_repeated_send_returns_the_original_even_when_the_text_would_differ(
    timed_api: Api,
) -> None:
    s = await setup(timed_api)
    first = await fire(timed_api, s, "timing", id="deck-timing-1")
    assert first.status_code == 201
    clock.advance(3 * 60)
    again = await fire(timed_api, s, "timing", id="deck-timing-1")
    assert again.status_code == 200 and again.json() == first.json()


async def test_the_panel_sends_a_preset_over_the_socket_and_the_server_fills_it(
    timed_server: InProcessServer, timed_api: Api, clients: list[Client]
) -> None:
    s = await setup(timed_api)
    producer = Client(timed_server.ws_url, s["tokens"]["producer"])
    clients.append(producer)
    await producer.connect()
    clock.advance(60)
    timing = PLAYBOOK[0]
    await producer.ws.send(
        '{"type":"send","id":"panel-1","preset":"timing","kind":"prompt.time","body":'
        + '{"text":"'
        + TEMPLATE
        + '"}}'
    )
    sent = await producer.wait_for(lambda f: f.get("id") == "panel-1")
    assert sent["type"] == "sent", sent
    await producer.wait_seq(sent["seq"])
    event = next(e for e in producer.events if e["seq"] == sent["seq"])
    assert event["kind"] == timing["kind"]
    assert event["body"]["text"] == "Sam: 9 min left in Welcome, then Practice ({not a variable})"
    # A field the producer changed (a detail typed) is taken as typed, braces and all.
    await producer.ws.send(
        '{"type":"send","id":"panel-2","preset":"ask","kind":"message",'
        '"body":{"text":"Typed {by hand}"}}'
    )
    sent = await producer.wait_for(lambda f: f.get("id") == "panel-2")
    await producer.wait_seq(sent["seq"])
    event = next(e for e in producer.events if e["seq"] == sent["seq"])
    assert event["body"]["text"] == "Typed {by hand}"
    # Only a producer sends presets.
    facilitator = Client(timed_server.ws_url, s["tokens"]["facilitator"])
    clients.append(facilitator)
    await facilitator.connect()
    await facilitator.ws.send('{"type":"send","id":"f-1","preset":"ask"}')
    refused = await facilitator.wait_for(lambda f: f.get("id") == "f-1")
    assert refused["type"] == "error" and refused["code"] == "forbidden"
