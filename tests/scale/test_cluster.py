"""Two processes on PostgreSQL + Redis behave like one: the core protocol, spread over both.

The two processes are shared by the module's tests (``shared_pair``)."""

import asyncio
import json
from typing import Any

from app.models.kinds import visible_to
from tests.scale.conftest import all_events, new_session
from tests.support import GRACE_S, Client, Server, let_time_pass, seqs


def visible(log: list[dict[str, Any]], role: str, upto: int) -> list[int]:
    return [e["seq"] for e in log if e["seq"] <= upto and visible_to(role, e["kind"])]


def assert_stream(client: Client, log: list[dict[str, Any]], role: str, upto: int) -> None:
    """Every visible event up to ``upto``, once each, in order."""
    got = [s for s in seqs(client.events) if s <= upto]
    assert got == visible(log, role, upto), (role, got)


async def test_a_producer_on_one_process_and_a_facilitator_on_another_see_the_same_log(
    shared_pair: tuple[Server, Server], made_clients: list[Client]
) -> None:
    a, b = shared_pair
    session = await new_session(a)
    producer = Client(a.ws_url, session["tokens"]["producer"])
    facilitator = Client(b.ws_url, session["tokens"]["facilitator"])
    observer = Client(b.ws_url, session["tokens"]["observer"])
    made_clients += [producer, facilitator, observer]
    for c in (producer, facilitator, observer):
        await c.connect()

    prompt = await producer.send("prompt.time", {"text": "5 min left", "minutes_left": 5})
    note = await producer.send("note", {"text": "slow start, designers take note"})
    flag = await producer.send("flag.learner", {"learner": "Maria", "flag": "question"})
    await facilitator.wait_seq(flag["seq"])
    reply = await facilitator.send("reply", {"text": "on it", "ref": flag["seq"]})
    await observer.send("note", {"text": "observer's aside"})
    last = await producer.send("prompt.time", {"text": "wrap up"})
    for c in (producer, facilitator, observer):
        await c.wait_seq(last["seq"])

    assert prompt["type"] == note["type"] == reply["type"] == "sent"
    got = {e["seq"]: e for e in facilitator.events}
    assert got[prompt["seq"]]["body"] == {"text": "5 min left", "minutes_left": 5}
    assert got[reply["seq"]]["author"]["role"] == "facilitator"
    # Notes are logged, and never reach a facilitator, whichever process wrote them.
    assert note["seq"] not in got
    assert all(e["kind"] != "note" for e in facilitator.events)
    log = await all_events(a, session)
    assert seqs(log) == list(range(1, len(log) + 1))
    assert_stream(producer, log, "producer", last["seq"])
    assert_stream(facilitator, log, "facilitator", last["seq"])
    assert_stream(observer, log, "observer", last["seq"])


async def test_a_client_resumes_on_the_other_process_with_since_and_misses_nothing(
    shared_pair: tuple[Server, Server], made_clients: list[Client]
) -> None:
    a, b = shared_pair
    session = await new_session(a)
    producer = Client(a.ws_url, session["tokens"]["producer"])
    facilitator = Client(a.ws_url, session["tokens"]["facilitator"])
    made_clients += [producer, facilitator]
    await producer.connect()
    await facilitator.connect()
    first = await producer.send("prompt.time", {"text": "one"})
    await facilitator.wait_seq(first["seq"])
    await facilitator.abort()

    for i in range(5):
        await producer.send("prompt.time", {"text": f"while away {i}"})
        await producer.send("note", {"text": f"private {i}"})
    # Back, on the other process, from where it was.
    facilitator.ws_url = b.ws_url
    welcome = await facilitator.connect(since=facilitator.last_seq)
    assert welcome["last_seq"] >= first["seq"] + 10
    last = await producer.send("prompt.time", {"text": "live again"})
    await facilitator.wait_seq(last["seq"])
    log = await all_events(b, session)
    assert_stream(facilitator, log, "facilitator", last["seq"])


async def test_a_repeated_id_on_the_other_process_returns_the_same_seq_and_logs_nothing(
    shared_pair: tuple[Server, Server], made_clients: list[Client]
) -> None:
    a, b = shared_pair
    session = await new_session(a)
    on_a = Client(a.ws_url, session["tokens"]["producer"])
    on_b = Client(b.ws_url, session["tokens"]["producer"])
    made_clients += [on_a, on_b]
    await on_a.connect()
    await on_b.connect()
    body = {"text": "5 min left"}
    first = await on_a.send("prompt.time", body, id="retry-me-1")
    again = await on_b.send("prompt.time", body, id="retry-me-1")
    assert again["type"] == "sent" and again["seq"] == first["seq"] and again.get("repeat")
    clash = await on_b.send("prompt.time", {"text": "something else"}, id="retry-me-1")
    assert clash["type"] == "error" and clash["code"] == "idempotency_conflict"
    log = await all_events(a, session)
    assert [e["id"] for e in log].count("retry-me-1") == 1


async def test_presence_counts_a_participants_sockets_across_processes(
    shared_pair: tuple[Server, Server], made_clients: list[Client]
) -> None:
    a, b = shared_pair
    session = await new_session(a)
    producer = Client(a.ws_url, session["tokens"]["producer"])
    fac_a = Client(a.ws_url, session["tokens"]["facilitator"])
    fac_b = Client(b.ws_url, session["tokens"]["facilitator"])
    made_clients += [producer, fac_a, fac_b]
    await producer.connect()
    facilitator_id = (await fac_a.connect())["you"]["participant_id"]

    def presence(status: str) -> Any:
        return lambda f: (
            f["type"] == "event"
            and f["event"]["kind"] == "presence"
            and f["event"]["body"] == {"participant_id": facilitator_id, "status": status}
        )

    await producer.wait_for(presence("online"))
    await fac_b.connect()  # a second socket, on the other process: still just online
    # The server reads frames only once the socket counts as joined: a pong proves it.
    await fac_b.send_raw(json.dumps({"type": "ping", "t": "joined?"}))
    await fac_b.wait_for(lambda f: f["type"] == "pong")
    await fac_a.close()  # one of two gone: still online
    mark = await producer.send("prompt.time", {"text": "marker"})
    await fac_b.wait_seq(mark["seq"])
    await fac_b.close()  # the last one: offline, once
    await let_time_pass(a, b, seconds=GRACE_S)  # past the grace, on both clocks
    await producer.wait_for(presence("offline"))
    await asyncio.sleep(0.5)
    mine = [
        e["body"]["status"]
        for e in await all_events(a, session)
        if e["kind"] == "presence" and e["body"]["participant_id"] == facilitator_id
    ]
    assert mine == ["online", "offline"]
