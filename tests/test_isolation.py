"""One session's tokens see and change nothing of another's."""

import asyncio
from typing import Any

from tests.support import Api, Client, Server


async def test_a_token_of_one_session_never_reads_or_writes_another(
    server: Server, api: Api, clients: list[Client]
) -> None:
    a = await api.create_session(title="Session A")
    b = await api.create_session(title="Session B")
    b_id = b["session"]["id"]
    a_producer = api.auth(a["tokens"]["producer"])
    for method, path, body in [
        ("GET", f"/api/v1/sessions/{b_id}", None),
        ("GET", f"/api/v1/sessions/{b_id}/events", None),
        ("GET", f"/api/v1/sessions/{b_id}/export", None),
        ("GET", f"/api/v1/sessions/{b_id}/report", None),
        ("GET", f"/api/v1/sessions/{b_id}/presets", None),
        ("GET", f"/api/v1/sessions/{b_id}/events/1/status", None),
        ("POST", f"/api/v1/sessions/{b_id}/events", {"kind": "note", "body": {"text": "x"}}),
        ("PATCH", f"/api/v1/sessions/{b_id}", {"title": "hijacked"}),
        ("POST", f"/api/v1/sessions/{b_id}/participants", {"role": "producer", "name": "x"}),
        ("POST", f"/api/v1/sessions/{b_id}/presets/five-min/send", None),
        ("DELETE", f"/api/v1/sessions/{b_id}", None),
    ]:
        r = await api.http.request(method, path, json=body, headers=a_producer)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"

    # On the socket, a token of A is a participant of A only.
    a_sock = Client(server.ws_url, a["tokens"]["producer"])
    b_sock = Client(server.ws_url, b["tokens"]["facilitator"])
    clients += [a_sock, b_sock]
    await a_sock.connect()
    await b_sock.connect()
    assert a_sock.welcome["session"]["id"] == a["session"]["id"]
    sent = await a_sock.send("prompt.time", {"text": "only for A"})
    # A reference to B's log from A is refused: seqs are per session.
    b_alert = await api.http.post(
        f"/api/v1/sessions/{b_id}/events",
        json={"kind": "alert.stop", "body": {"reason": "chat"}},
        headers=api.auth(b["tokens"]["producer"]),
    )
    assert b_alert.status_code == 201
    wrong = await a_sock.send("alert.cancel", {"ref": b_alert.json()["seq"] + 5})
    assert wrong["type"] == "error"
    b_events = await api.events(b_id, b["tokens"]["producer"])
    assert all("only for A" not in str(e["body"]) for e in b_events)
    assert all(e["kind"] != "prompt.time" for e in b_sock.events)
    b_view = (
        await api.http.get(f"/api/v1/sessions/{b_id}", headers=api.auth(b["tokens"]["producer"]))
    ).json()
    assert b_view["session"]["title"] == "Session B"
    assert sent["type"] == "sent"


async def test_deleting_a_session_erases_it_and_closes_its_sockets_with_4404(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    sid = session["session"]["id"]
    other = await api.create_session(title="Other")
    f = Client(server.ws_url, session["tokens"]["facilitator"])
    keep = Client(server.ws_url, other["tokens"]["facilitator"])
    clients += [f, keep]
    await f.connect()
    await keep.connect()
    r = await api.http.delete(
        f"/api/v1/sessions/{sid}", headers=api.auth(session["tokens"]["producer"])
    )
    assert r.status_code == 204
    for _ in range(50):
        if f.close_code is not None:
            break
        await asyncio.sleep(0.1)
    assert f.close_code == 4404
    assert keep.close_code is None
    r = await api.http.get(
        f"/api/v1/sessions/{sid}", headers=api.auth(session["tokens"]["producer"])
    )
    assert r.status_code == 401, "the tokens died with the session"
    assert (
        await api.http.get(
            f"/api/v1/sessions/{other['session']['id']}",
            headers=api.auth(other["tokens"]["producer"]),
        )
    ).status_code == 200
