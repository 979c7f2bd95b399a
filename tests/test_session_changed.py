"""Edits of the session itself (playbook, roster, agenda) reach every open page at once: a
``state`` frame with ``"session_changed": true``, after which pages re-read the session."""

from typing import Any

from tests.support import Api, Client, Server

AGENDA = [{"title": "Welcome", "minutes": 10}, {"title": "Practice", "minutes": 20}]


async def _producers(
    server: Server, api: Api, clients: list[Client]
) -> tuple[dict[str, Any], list[Client]]:
    s = await api.create_session(title="Edits", agenda=AGENDA, roster=["Ana"])
    tabs = []
    for _ in range(2):  # two producer tabs on the same link
        tab = Client(server.ws_url, s["tokens"]["producer"])
        clients.append(tab)
        await tab.connect()
        tabs.append(tab)
    return s, tabs


def _changed(frame: dict[str, Any]) -> bool:
    return frame["type"] == "state" and frame.get("session_changed") is True


async def test_a_saved_playbook_tells_every_producer_tab_that_the_session_changed(
    server: Server, api: Api, clients: list[Client]
) -> None:
    s, tabs = await _producers(server, api, clients)
    url = f"/api/v1/sessions/{s['session']['id']}/presets"
    auth = api.auth(s["tokens"]["producer"])
    presets = (await api.http.get(url, headers=auth)).json()["presets"]
    presets[0] = {**presets[0], "label": "Ten minutes left"}
    r = await api.http.put(url, json={"presets": presets}, headers=auth)
    assert r.status_code == 200, r.text
    for tab in tabs:
        await tab.wait_for(_changed)
    # What a page then reads has the new label.
    assert (await api.http.get(url, headers=auth)).json()["presets"][0]["label"] == (
        "Ten minutes left"
    )


async def test_a_roster_edit_says_session_changed_and_an_event_does_not(
    server: Server, api: Api, clients: list[Client]
) -> None:
    s, tabs = await _producers(server, api, clients)
    sid = s["session"]["id"]
    auth = api.auth(s["tokens"]["producer"])
    reply = await tabs[0].send("session.start", {})
    await tabs[1].wait_seq(reply["seq"])
    states = [f for f in tabs[1].frames if f["type"] == "state"]
    assert states and not any("session_changed" in f for f in states)

    r = await api.http.patch(
        f"/api/v1/sessions/{sid}", json={"roster": ["Ana", "Maria Lopez"]}, headers=auth
    )
    assert r.status_code == 200, r.text
    for tab in tabs:
        await tab.wait_for(_changed)
    # The same playbook saved again changes nothing: no frame for it.
    before = len([f for f in tabs[0].frames if _changed(f)])
    url = f"/api/v1/sessions/{sid}/presets"
    presets = (await api.http.get(url, headers=auth)).json()["presets"]
    assert (await api.http.put(url, json=presets, headers=auth)).status_code == 200
    view = await api.http.get(f"/api/v1/sessions/{sid}", headers=auth)
    assert view.json()["session"]["roster"] == ["Ana", "Maria Lopez"]
    assert len([f for f in tabs[0].frames if _changed(f)]) == before
