"""Webhooks survive a kill -9 of the process that was delivering them: the restarted
process delivers what was owed, in order, nothing lost (the one in flight may come twice,
under the same webhook-id)."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import Server
from tests.webhook_receiver import Receiver

ENV = {
    "BACKCHANNEL_WEBHOOK_ALLOW_PRIVATE": "1",
    "BACKCHANNEL_WEBHOOK_LEASE_S": "1",
    "BACKCHANNEL_WEBHOOK_POLL_S": "0.2",
    "BACKCHANNEL_WEBHOOK_RETRY_BASE_S": "0.2",
    "BACKCHANNEL_WEBHOOK_TIMEOUT_S": "3",
}


def wait(test: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


def test_a_delivery_owed_by_a_killed_process_is_made_after_its_restart(tmp_path: Path) -> None:
    with Receiver() as receiver:
        first = Server(tmp_path, env=ENV).start()
        try:
            s = httpx.post(first.url + "/api/v1/sessions", json={"title": "Crash"}).json()
            sid, token = s["session"]["id"], s["tokens"]["producer"]
            auth = {"Authorization": f"Bearer {token}"}
            base = f"{first.url}/api/v1/sessions/{sid}"
            r = httpx.post(
                f"{base}/webhooks", json={"url": receiver.url, "kinds": ["message"]}, headers=auth
            )
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]

            def send(text: str) -> int:
                r = httpx.post(
                    f"{base}/events", json={"kind": "message", "body": {"text": text}}, headers=auth
                )
                assert r.status_code == 201, r.text
                seq: int = r.json()["seq"]
                return seq

            seqs = [send("m0"), send("m1")]
            wait(lambda: len(receiver.answered()) == 2, what="the first two delivered")
            receiver.hang.set()  # the receiver stops answering: a delivery stays in flight
            seqs += [send(f"m{i}") for i in range(2, 6)]
            wait(lambda: len(receiver.requests) == 3, what="the third one in flight")
        finally:
            first.kill()  # kill -9 while it waits for the receiver's answer
        receiver.hang.clear()
        time.sleep(0.3)
        assert len(receiver.answered()) == 2
        restarted = Server(tmp_path, env=ENV, port=first.port).start()
        try:
            wait(lambda: len(receiver.answered()) >= 6, what="everything owed delivered")
            time.sleep(0.5)
        finally:
            restarted.stop()
    payloads = receiver.verified(secret)
    delivered = [r.json()["event"]["seq"] for r in receiver.answered()]
    assert delivered == seqs  # each once, in seq order, nothing lost
    # Only the one in flight at the kill was sent more than once, under the same webhook-id.
    assert {p["event"]["seq"] for p in payloads if payloads.count(p) > 1} <= {seqs[2]}
    unanswered = [r for r in receiver.requests if not r.status]
    assert unanswered and {r.msg_id for r in unanswered} == {f"{sid}:{seqs[2]}"}
