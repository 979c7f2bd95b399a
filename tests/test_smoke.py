"""The server starts on the embedded defaults and speaks the protocol end to end."""

from typing import Any

from tests.support import Api, Client, Server


async def test_health_and_readiness_answer(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_a_prompt_reaches_the_facilitator_and_the_sender_gets_its_seq(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    producer = Client(server.ws_url, session["tokens"]["producer"])
    facilitator = Client(server.ws_url, session["tokens"]["facilitator"])
    clients += [producer, facilitator]
    await producer.connect()
    await facilitator.connect()
    reply = await producer.send("prompt.time", {"text": "5 min left", "minutes_left": 5})
    assert reply["type"] == "sent"
    await facilitator.wait_for(lambda f: f["type"] == "event" and f["event"]["seq"] == reply["seq"])
    got = [e for e in facilitator.events if e["kind"] == "prompt.time"]
    assert got[0]["body"] == {"text": "5 min left", "minutes_left": 5}
    assert got[0]["author"]["role"] == "producer"
