"""Outbound webhooks through their real interfaces: the HTTP routes, and deliveries to a
real local receiver that checks every signature with the ``standardwebhooks`` library."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.clock import clock
from tests.inprocess import InProcessServer
from tests.support import Api
from tests.webhook_receiver import Receiver, wait_until

FAST = {
    "BACKCHANNEL_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver is on 127.0.0.1
    "BACKCHANNEL_WEBHOOK_RETRY_BASE_S": "0.1",
    "BACKCHANNEL_WEBHOOK_RETRY_MAX_S": "0.2",
    "BACKCHANNEL_WEBHOOK_POLL_S": "0.1",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def start(tmp_path: Path, **env: str) -> InProcessServer:
    return await InProcessServer(tmp_path, env=env).start()


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Api]:
    """A server whose webhooks may reach 127.0.0.1, retrying within a second."""
    srv = await start(tmp_path, **FAST)
    api = Api(srv.url)
    try:
        yield api
    finally:
        await api.close()
        await srv.stop()


def url(s: dict[str, Any], path: str = "") -> str:
    return f"/api/v1/sessions/{s['session']['id']}{path}"


def auth(api: Api, s: dict[str, Any], role: str = "producer") -> dict[str, str]:
    return api.auth(s["tokens"][role])


async def add(api: Api, s: dict[str, Any], **body: Any) -> Any:
    return await api.http.post(url(s, "/webhooks"), json=body, headers=auth(api, s))


async def post(api: Api, s: dict[str, Any], kind: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.post(
        url(s, "/events"), json={"kind": kind, "body": body}, headers=auth(api, s)
    )
    assert r.status_code == 201, r.text
    event: dict[str, Any] = r.json()
    return event


async def deliveries(api: Api, s: dict[str, Any], webhook_id: str) -> list[dict[str, Any]]:
    r = await api.http.get(url(s, f"/webhooks/{webhook_id}/deliveries"), headers=auth(api, s))
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["deliveries"]
    return rows


async def endpoint(api: Api, s: dict[str, Any], webhook_id: str) -> dict[str, Any]:
    r = await api.http.get(url(s, "/webhooks"), headers=auth(api, s))
    return next(w for w in r.json()["webhooks"] if w["webhook_id"] == webhook_id)


async def test_deliveries_are_signed_and_come_in_seq_order(hooked: Api, receiver: Receiver) -> None:
    s = await hooked.create_session(title="Signed", agenda=[{"title": "A", "minutes": 5}])
    r = await add(hooked, s, url=receiver.url, kinds=["message", "alert.stop"])
    assert r.status_code == 201, r.text
    created = r.json()
    secret, webhook_id = created["secret"], created["webhook"]["webhook_id"]
    assert secret.startswith("whsec_")
    sent = []
    for i in range(8):
        sent.append(await post(hooked, s, "message", {"text": f"m{i}"}))
        await post(hooked, s, "note", {"text": "not wanted"})
    sent.append(await post(hooked, s, "alert.stop", {"reason": "chat", "text": "Chat!"}))
    await wait_until(lambda: len(receiver.requests) >= 9, what="nine deliveries")
    await asyncio.sleep(0.3)
    payloads = receiver.verified(secret)  # raises on any bad signature
    assert [p["event"]["seq"] for p in payloads] == [e["seq"] for e in sent]
    sid = s["session"]["id"]
    assert [r.msg_id for r in receiver.requests] == [f"{sid}:{e['seq']}" for e in sent]
    last = payloads[-1]
    assert set(last) >= {"type", "session_id", "event", "state"}
    assert last["type"] == "alert.stop" and last["session_id"] == sid
    assert last["event"] == sent[-1]
    assert [a["seq"] for a in last["state"]["open_alerts"]] == [sent[-1]["seq"]]
    # The secret is shown once; the list and the log say what happened.
    listed = await endpoint(hooked, s, webhook_id)
    assert "secret" not in listed and listed["status"] == "active"
    log = await deliveries(hooked, s, webhook_id)
    assert [d["seq"] for d in log] == [e["seq"] for e in reversed(sent)]
    assert {(d["status"], d["attempts"], d["response_status"]) for d in log} == {
        ("delivered", 1, 200)
    }


async def test_failures_are_retried_and_nothing_overtakes_a_failing_event(
    hooked: Api, receiver: Receiver
) -> None:
    receiver.script = [500, 500, 503]  # the first three answers fail
    s = await hooked.create_session(title="Retries")
    r = await add(hooked, s, url=receiver.url, kinds=["message"])
    secret, webhook_id = r.json()["secret"], r.json()["webhook"]["webhook_id"]
    sent = [await post(hooked, s, "message", {"text": f"m{i}"}) for i in range(4)]
    await wait_until(lambda: len(receiver.answered()) >= 4, what="four delivered")
    payloads = receiver.verified(secret)
    seqs = [p["event"]["seq"] for p in payloads]
    first = sent[0]["seq"]
    assert seqs[:4] == [first] * 4  # retried until it went through, nothing else meanwhile
    assert seqs[4:] == [e["seq"] for e in sent[1:]]
    log = {d["seq"]: d for d in await deliveries(hooked, s, webhook_id)}
    assert log[first]["attempts"] == 4 and log[first]["status"] == "delivered"
    assert (await endpoint(hooked, s, webhook_id))["status"] == "active"


async def test_an_endpoint_that_keeps_failing_is_disabled_with_its_reason(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.default = 500
    srv = await start(tmp_path, **FAST, BACKCHANNEL_WEBHOOK_GIVE_UP_S="0.8")
    api = Api(srv.url)
    try:
        s = await api.create_session(title="Broken receiver")
        r = await add(api, s, url=receiver.url, kinds=["message"])
        webhook_id = r.json()["webhook"]["webhook_id"]
        await post(api, s, "message", {"text": "lost cause"})

        async def disabled() -> dict[str, Any]:
            for _ in range(100):
                w = await endpoint(api, s, webhook_id)
                if w["status"] == "disabled":
                    return w
                await asyncio.sleep(0.1)
            raise AssertionError(f"not disabled: {w}")

        w = await disabled()
        assert "HTTP 500" in w["disabled_reason"] and w["disabled_at"]
        tried = len(receiver.requests)
        assert tried >= 3
        [d] = await deliveries(api, s, webhook_id)
        assert d["status"] == "failed" and d["attempts"] == tried
        await post(api, s, "message", {"text": "after"})
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == tried  # a disabled endpoint gets nothing more
    finally:
        await api.close()
        await srv.stop()


async def test_an_unanswered_alert_reaches_its_endpoint_and_the_deployments_default(
    tmp_path: Path, receiver: Receiver
) -> None:
    default_secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    srv = await start(
        tmp_path,
        **FAST,
        BACKCHANNEL_TEST_HOOKS="1",
        BACKCHANNEL_WEBHOOK_DEFAULT_URL=receiver.url + "?default",
        BACKCHANNEL_WEBHOOK_DEFAULT_SECRET=default_secret,
        BACKCHANNEL_WEBHOOK_DEFAULT_LEVEL="1",
    )
    api = Api(srv.url)
    try:
        s = await api.create_session(title="Escalation", settings={"escalate_after_s": 20})
        sid = s["session"]["id"]
        r = await add(api, s, url=receiver.url, kinds=["alert.unanswered"], level=2)
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        alert = await post(api, s, "alert.stop", {"reason": "problem", "text": "Mic is off"})
        for _ in range(3):  # levels 1, 2, 3 fall due 20 s apart
            clock.advance(21)
            await asyncio.sleep(0.3)
        await wait_until(lambda: len(receiver.answered()) >= 2, what="two unanswered alerts")
        await asyncio.sleep(0.3)
        by_id = {r.msg_id: r for r in receiver.requests}
        assert set(by_id) == {
            f"{sid}:unanswered:{alert['seq']}:1",
            f"{sid}:unanswered:{alert['seq']}:2",
        }
        mine = by_id[f"{sid}:unanswered:{alert['seq']}:2"]
        from standardwebhooks.webhooks import Webhook

        payload = Webhook(secret).verify(mine.body, mine.headers)
        assert payload["type"] == "alert.unanswered" and payload["level"] == 2
        assert payload["event"] == alert and payload["session_title"] == "Escalation"
        assert payload["text"] == (
            "Stop alert not answered (level 2) in “Escalation”: address a problem — Mic is off"
        )
        default = by_id[f"{sid}:unanswered:{alert['seq']}:1"]
        assert Webhook(default_secret).verify(default.body, default.headers)["level"] == 1
    finally:
        await api.close()
        await srv.stop()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.0.0.7/hook", "private"),
        ("http://192.168.1.20/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("ftp://hooks.example/x", "https://"),
        ("http://user:pw@93.184.216.34/x", "user name"),
    ],
)
async def test_loopback_private_and_link_local_targets_are_refused(
    api: Api, target: str, why: str
) -> None:
    s = await api.create_session()
    r = await add(api, s, url=target, kinds=["message"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input" and why in r.json()["error"]["message"]


async def test_only_a_producer_manages_webhooks_and_input_is_checked(api: Api) -> None:
    s = await api.create_session()
    public = "http://93.184.216.34/hook"  # an address literal: no lookup, nothing is sent
    r = await api.http.post(
        url(s, "/webhooks"),
        json={"url": public, "kinds": ["message"]},
        headers=auth(api, s, "facilitator"),
    )
    assert r.status_code == 403
    for bad in (
        {"url": public, "kinds": ["nonsense"]},
        {"url": public, "kinds": []},
        {"url": public, "kinds": ["alert.unanswered"], "level": 9},
        {"url": public, "kinds": ["message"], "level": 2},
        {"url": public, "kinds": ["message"], "extra": 1},
    ):
        r = await add(api, s, **bad)
        assert r.status_code == 422, bad
    r = await add(api, s, url=public, kinds=["session.end"])
    assert r.status_code == 201
    webhook_id = r.json()["webhook"]["webhook_id"]
    assert (await deliveries(api, s, webhook_id)) == []
    r = await api.http.delete(url(s, f"/webhooks/{webhook_id}"), headers=auth(api, s))
    assert r.status_code == 204
    r = await api.http.get(url(s, "/webhooks"), headers=auth(api, s))
    assert r.json()["webhooks"] == []
    other = await api.create_session()
    r = await api.http.get(
        url(other, f"/webhooks/{webhook_id}/deliveries"), headers=auth(api, other)
    )
    assert r.status_code == 404
