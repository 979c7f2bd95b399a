"""Learner flags are logged as the roster spells the name, whoever sends them."""

from tests.support import Api, Client, Server


async def test_a_partly_typed_learner_is_logged_with_the_rosters_spelling(
    server: Server, api: Api, clients: list[Client]
) -> None:
    s = await api.create_session(title="Names", roster=["Sofía Hernández", "Aiyana Brooks"])
    producer = Client(server.ws_url, s["tokens"]["producer"])
    clients.append(producer)
    await producer.connect()
    reply = await producer.send(
        "flag.learner", {"learner": "sofia", "flag": "quiet", "minutes": 20}
    )
    assert reply["type"] == "sent", reply
    r = await api.http.post(
        f"/api/v1/sessions/{s['session']['id']}/events",
        json={"kind": "flag.learner", "body": {"learner": "Aiy", "flag": "hand"}},
        headers=api.auth(s["tokens"]["producer"]),
    )
    assert r.status_code == 201, r.text
    events = await api.events(s["session"]["id"], s["tokens"]["producer"])
    flags = [e["body"] for e in events if e["kind"] == "flag.learner"]
    assert flags == [
        {"learner": "Sofía Hernández", "flag": "quiet", "minutes": 20},
        {"learner": "Aiyana Brooks", "flag": "hand"},
    ]
    # The same id again is the same message (matched the same way): a repeat, not a conflict.
    again = await producer.send(
        "flag.learner",
        {"learner": "sofia", "flag": "quiet", "minutes": 20},
        id=next(iter(producer.sent)),
    )
    assert again["type"] == "sent" and again.get("repeat") is True, again
    report = (
        await api.http.get(
            f"/api/v1/sessions/{s['session']['id']}/report",
            headers=api.auth(s["tokens"]["producer"]),
        )
    ).json()
    assert report["learners"] == {"Aiyana Brooks": {"hand": 1}, "Sofía Hernández": {"quiet": 1}}
