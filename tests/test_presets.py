"""The playbook: presets round-trip, are validated, are copied, fire once per key, and report."""

import asyncio
from typing import Any

import pytest

from tests.support import Api, Client, Server

PLAYBOOK = [
    {
        "preset_id": "wrap",
        "label": "  Wrap up  ",
        "kind": "prompt.time",
        "body": {"text": "Please wrap up", "minutes_left": 2},
        "key": "w",
    },
    {
        "preset_id": "maria-quiet",
        "label": "Maria quiet",
        "kind": "flag.learner",
        "body": {"learner": "Maria", "flag": "quiet"},
    },
    {
        "preset_id": "stop-break",
        "label": "Stop: break",
        "kind": "alert.stop",
        "body": {"reason": "break", "text": "Take 5"},
        "key": "B",
    },
]


def url(s: dict[str, Any], path: str = "") -> str:
    return f"/api/v1/sessions/{s['session']['id']}{path}"


async def put(api: Api, s: dict[str, Any], presets: Any, role: str = "producer") -> Any:
    return await api.http.put(url(s, "/presets"), json=presets, headers=api.auth(s["tokens"][role]))


async def get_presets(api: Api, s: dict[str, Any], role: str = "producer") -> list[Any]:
    r = await api.http.get(url(s, "/presets"), headers=api.auth(s["tokens"][role]))
    assert r.status_code == 200, r.text
    presets: list[Any] = r.json()["presets"]
    return presets


async def test_a_new_session_has_a_sensible_default_playbook(timed_api: Api) -> None:
    s = await timed_api.create_session()
    presets = await get_presets(timed_api, s, role="facilitator")
    kinds = {p["kind"] for p in presets}
    assert {"prompt.time", "flag.learner", "alert.stop"} <= kinds
    assert len({p["preset_id"] for p in presets}) == len(presets)
    keys = [p["key"].lower() for p in presets if "key" in p]
    assert len(set(keys)) == len(keys)


async def test_presets_round_trip_through_put_and_get(timed_api: Api) -> None:
    s = await timed_api.create_session()
    r = await put(timed_api, s, {"presets": PLAYBOOK})
    assert r.status_code == 200, r.text
    expected = [dict(p) for p in PLAYBOOK]
    expected[0]["label"] = "Wrap up"  # labels are trimmed
    assert r.json()["presets"] == expected
    assert await get_presets(timed_api, s) == expected
    assert await get_presets(timed_api, s, role="observer") == expected
    r = await put(timed_api, s, PLAYBOOK[:1])  # the bare list works too
    assert r.status_code == 200, r.text
    assert [p["preset_id"] for p in await get_presets(timed_api, s)] == ["wrap"]


@pytest.mark.parametrize(
    ("presets", "says"),
    [
        ({"presets": {"a": 1}}, "JSON array"),
        ([{**PLAYBOOK[0], "kind": "prompt.nope"}], "unknown kind"),
        ([{**PLAYBOOK[2], "body": {"reason": "nap"}}], "reason"),
        ([{**PLAYBOOK[0], "kind": "ack", "body": {"ref": 1, "status": "done"}}], "may not send"),
        ([{**PLAYBOOK[0], "kind": "alert.escalated", "body": {"ref": 1, "level": 1}}], "may not"),
        ([{**PLAYBOOK[0], "preset_id": "Has Space"}], "preset_id"),
        ([{**PLAYBOOK[0], "label": "   "}], "label"),
        ([{**PLAYBOOK[0], "colour": "red"}], "colour"),
        ([{**PLAYBOOK[0], "key": "ab"}], "key"),
        ([{**PLAYBOOK[0], "key": "?"}], "key"),
        ([PLAYBOOK[0], {**PLAYBOOK[1], "preset_id": "wrap"}], "used twice"),
        ([PLAYBOOK[0], {**PLAYBOOK[1], "key": "W"}], "used twice"),
        ([{**PLAYBOOK[1], "preset_id": f"p{i}"} for i in range(61)], "at most"),
    ],
)
async def test_invalid_presets_are_refused_clearly_and_change_nothing(
    timed_api: Api, presets: Any, says: str
) -> None:
    s = await timed_api.create_session()
    before = await get_presets(timed_api, s)
    r = await put(timed_api, s, presets)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert says in error["message"]
    assert await get_presets(timed_api, s) == before


async def test_only_the_producer_may_change_the_playbook(timed_api: Api) -> None:
    s = await timed_api.create_session()
    for role in ("facilitator", "observer"):
        r = await put(timed_api, s, PLAYBOOK, role=role)
        assert r.status_code == 403, r.text
    other = await timed_api.create_session()
    r = await timed_api.http.put(
        url(s, "/presets"), json=PLAYBOOK, headers=timed_api.auth(other["tokens"]["producer"])
    )
    assert r.status_code == 404


async def test_a_new_session_copies_the_playbook_of_an_earlier_one(timed_api: Api) -> None:
    first = await timed_api.create_session(title="Monday")
    assert (await put(timed_api, first, PLAYBOOK)).status_code == 200
    playbook = await get_presets(timed_api, first)
    for role in ("producer", "observer"):
        second = await timed_api.create_session(
            title="Tuesday",
            copy_presets_from=first["session"]["id"],
            copy_presets_token=first["tokens"][role],
        )
        assert await get_presets(timed_api, second) == playbook


@pytest.mark.parametrize("token_of", ["none", "facilitator", "other-session"])
async def test_copying_a_playbook_needs_a_producer_or_observer_token_of_that_session(
    timed_api: Api, token_of: str
) -> None:
    first = await timed_api.create_session(title="Monday")
    other = await timed_api.create_session(title="Elsewhere")
    body: dict[str, Any] = {"title": "Tuesday", "copy_presets_from": first["session"]["id"]}
    if token_of == "facilitator":
        body["copy_presets_token"] = first["tokens"]["facilitator"]
    elif token_of == "other-session":
        body["copy_presets_token"] = other["tokens"]["producer"]
    r = await timed_api.http.post("/api/v1/sessions", json=body)
    assert r.status_code == (401 if token_of == "none" else 403), r.text


async def test_a_preset_sent_twice_with_one_idempotency_key_is_logged_once(timed_api: Api) -> None:
    s = await timed_api.create_session()
    assert (await put(timed_api, s, PLAYBOOK)).status_code == 200
    headers = {**timed_api.auth(s["tokens"]["producer"]), "Idempotency-Key": "deck-button-7-0001"}
    first = await timed_api.http.post(url(s, "/presets/stop-break/send"), headers=headers)
    again = await timed_api.http.post(url(s, "/presets/stop-break/send"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["id"] == "deck-button-7-0001"
    assert first.json()["body"] == {"reason": "break", "text": "Take 5"}
    events = await timed_api.events(s["session"]["id"], s["tokens"]["producer"])
    assert [e["kind"] for e in events].count("alert.stop") == 1
    # Without a key every press is a new message.
    plain = timed_api.auth(s["tokens"]["producer"])
    for _ in range(2):
        r = await timed_api.http.post(url(s, "/presets/wrap/send"), headers=plain)
        assert r.status_code == 201
    events = await timed_api.events(s["session"]["id"], s["tokens"]["producer"])
    assert [e["kind"] for e in events].count("prompt.time") == 2


async def test_sending_a_preset_needs_the_producer_and_an_existing_preset(timed_api: Api) -> None:
    s = await timed_api.create_session()
    r = await timed_api.http.post(
        url(s, "/presets/nope/send"), headers=timed_api.auth(s["tokens"]["producer"])
    )
    assert r.status_code == 404
    r = await timed_api.http.post(
        url(s, "/presets/hand/send"), headers=timed_api.auth(s["tokens"]["facilitator"])
    )
    assert r.status_code == 403


async def test_the_status_endpoint_follows_delivery_seen_ack_and_resurfacing(
    timed_server: Server, timed_api: Api, clients: list[Client]
) -> None:
    s = await timed_api.create_session()
    assert (await put(timed_api, s, PLAYBOOK)).status_code == 200
    producer = timed_api.auth(s["tokens"]["producer"])
    sent = await timed_api.http.post(url(s, "/presets/stop-break/send"), headers=producer)
    seq = sent.json()["seq"]

    async def status(role: str = "producer") -> Any:
        r = await timed_api.http.get(
            url(s, f"/events/{seq}/status"), headers=timed_api.auth(s["tokens"][role])
        )
        assert r.status_code == 200, r.text
        return r.json()

    first = await status()
    assert (first["seq"], first["delivered"], first["seen"], first["ack"]) == (
        seq,
        False,
        None,
        None,
    )
    facilitator = Client(timed_server.ws_url, s["tokens"]["facilitator"])
    clients.append(facilitator)
    await facilitator.connect()
    await facilitator.wait_for(lambda f: f["type"] == "event" and f["event"]["seq"] == seq)
    for _ in range(100):  # presence is logged just after the socket opens
        if (await status())["delivered"]:
            break
        await asyncio.sleep(0.05)
    assert (await status())["delivered"] is True
    assert (await facilitator.send("seen", {"ref": seq}))["type"] == "sent"
    seen = await status("observer")
    assert seen["seen"]["by"] == "Facilitator"
    assert seen["ack"] is None
    reply = await facilitator.send("ack", {"ref": seq, "status": "snoozed", "minutes": 1})
    assert reply["type"] == "sent"
    acked = await status()
    assert (acked["ack"]["status"], acked["ack"]["minutes"]) == ("snoozed", 1)
    r = await timed_api.http.post("/api/v1/_test/clock", json={"advance_s": 61})
    assert r.status_code == 200
    back = await status()
    assert back["ack"] is None  # the snooze ran out: waiting for an answer again
    assert back["resurfaced_at"] is not None
    await facilitator.send("ack", {"ref": seq, "status": "done"})
    assert (await status())["ack"]["status"] == "done"
    r = await timed_api.http.get(
        url(s, f"/events/{seq}/status"), headers=timed_api.auth(s["tokens"]["facilitator"])
    )
    assert r.status_code == 403
    r = await timed_api.http.get(url(s, "/events/9999/status"), headers=producer)
    assert r.status_code == 404
