"""Webhooks from two processes on one PostgreSQL database and one Redis: each event once and
in order in the normal case (an endpoint is leased by one process at a time), and what a
killed process owed is delivered by the other one."""

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.scale.conftest import Cluster
from tests.webhook_receiver import Receiver

ENV = {
    "BACKCHANNEL_WEBHOOK_ALLOW_PRIVATE": "1",
    "BACKCHANNEL_WEBHOOK_LEASE_S": "1",
    "BACKCHANNEL_WEBHOOK_POLL_S": "0.1",
    "BACKCHANNEL_WEBHOOK_RETRY_BASE_S": "0.2",
    "BACKCHANNEL_WEBHOOK_TIMEOUT_S": "3",
}


def wait(test: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


def setup(url: str, receiver: Receiver) -> tuple[dict[str, Any], dict[str, str], str]:
    s = httpx.post(url + "/api/v1/sessions", json={"title": "Two processes"}).json()
    auth = {"Authorization": f"Bearer {s['tokens']['producer']}"}
    r = httpx.post(
        f"{url}/api/v1/sessions/{s['session']['id']}/webhooks",
        json={"url": receiver.url, "kinds": ["message"]},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    return s, auth, r.json()["secret"]


def send(url: str, s: dict[str, Any], auth: dict[str, str], text: str) -> int:
    r = httpx.post(
        f"{url}/api/v1/sessions/{s['session']['id']}/events",
        json={"kind": "message", "body": {"text": text}},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    return seq


def test_two_processes_deliver_each_event_once_and_in_order(
    cluster_factory: Callable[..., Cluster], redis_url: str
) -> None:
    cluster = cluster_factory(redis_url)
    a, b = cluster.start(2, env=ENV)
    with Receiver() as receiver:
        s, auth, secret = setup(a.url, receiver)
        seqs = [send((a, b)[i % 2].url, s, auth, f"m{i}") for i in range(20)]
        wait(lambda: len(receiver.requests) >= 20, what="twenty deliveries")
        time.sleep(1)  # anything sent twice would arrive meanwhile
        got = [p["event"]["seq"] for p in receiver.verified(secret)]
    assert got == seqs


def test_what_a_killed_process_owed_is_delivered_by_the_other(
    cluster_factory: Callable[..., Cluster], redis_url: str
) -> None:
    cluster = cluster_factory(redis_url)
    [a] = cluster.start(1, env=ENV)
    with Receiver() as receiver:
        s, auth, secret = setup(a.url, receiver)
        seqs = [send(a.url, s, auth, "m0")]
        wait(lambda: len(receiver.answered()) == 1, what="the first delivered")
        receiver.hang.set()
        seqs += [send(a.url, s, auth, f"m{i}") for i in range(1, 5)]
        wait(lambda: len(receiver.requests) == 2, what="the second in flight, from a")
        [b] = cluster.start(1, env=ENV)  # b runs too; a holds the endpoint
        a.kill()  # kill -9, a delivery of a's in flight or due again soon
        receiver.hang.clear()
        seqs += [send(b.url, s, auth, "m5")]
        wait(lambda: len(receiver.answered()) >= 6, what="b delivers what was owed")
        time.sleep(0.5)
        receiver.verified(secret)  # every request signed
        delivered = [r.json()["event"]["seq"] for r in receiver.answered()]
        unanswered = {r.json()["event"]["seq"] for r in receiver.requests if not r.status}
    assert delivered == seqs  # each once, in seq order, nothing lost
    assert unanswered == {seqs[1]}  # only the one in flight was tried more than once
