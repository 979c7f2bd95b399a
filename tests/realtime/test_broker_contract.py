"""The same contract for every broker backend: memory:// and redis:// (the shared Redis)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.realtime.backends import from_url
from app.realtime.broker import Broker
from tests.support import shared_redis_url


def _url(scheme: str) -> str:
    return "memory://" if scheme == "memory" else shared_redis_url()


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    """Brokers on one URL: with Redis each stands for a separate server process."""
    url = _url(request.param)
    made: list[Broker] = []

    async def make() -> Broker:
        broker = from_url(url).broker
        await broker.connect()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.disconnect()


class Inbox:
    """A subscriber callback that records what it heard."""

    def __init__(self) -> None:
        self.got: list[str | None] = []
        self.changed = asyncio.Event()

    def __call__(self, message: str | None) -> None:
        self.got.append(message)
        self.changed.set()

    async def wait_count(self, n: int, timeout: float = 5) -> list[str | None]:
        async with asyncio.timeout(timeout):
            while len(self.got) < n:
                self.changed.clear()
                await self.changed.wait()
        return self.got


def _channel() -> str:
    return f"bc:test:{uuid.uuid4().hex}"


async def test_every_subscriber_gets_every_message_in_publish_order(make_broker: Any) -> None:
    broker = await make_broker()
    channel = _channel()
    first, second = Inbox(), Inbox()
    await broker.subscribe(channel, first)
    await broker.subscribe(channel, second)
    sent = [f"{i}|prompt.time|{{}}" for i in range(1, 51)]
    for message in sent:
        await broker.publish(channel, message)
    assert await first.wait_count(50) == sent
    assert await second.wait_count(50) == sent


async def test_publish_many_delivers_each_message_to_its_channel_in_order(
    make_broker: Any,
) -> None:
    broker = await make_broker()
    one, other = _channel(), _channel()
    got_one, got_other = Inbox(), Inbox()
    await broker.subscribe(one, got_one)
    await broker.subscribe(other, got_other)
    pairs = [(one if i % 3 else other, f"{i}|prompt.time|{{}}") for i in range(1, 301)]
    await broker.publish_many(pairs)
    await broker.publish_many([(one, "last")])
    expect_one = [m for c, m in pairs if c == one] + ["last"]
    expect_other = [m for c, m in pairs if c == other]
    assert await got_one.wait_count(len(expect_one)) == expect_one
    assert await got_other.wait_count(len(expect_other)) == expect_other


async def test_a_message_reaches_only_its_own_channel(make_broker: Any) -> None:
    broker = await make_broker()
    one, other = _channel(), _channel()
    got_one, got_other = Inbox(), Inbox()
    await broker.subscribe(one, got_one)
    await broker.subscribe(other, got_other)
    await broker.publish(one, "for one")
    await broker.publish(other, "for other")
    assert await got_one.wait_count(1) == ["for one"]
    assert await got_other.wait_count(1) == ["for other"]
    # A channel delivers in publish order: once a later message arrived, a stray would have.
    await broker.publish(one, "one again")
    await broker.publish(other, "other again")
    assert await got_one.wait_count(2) == ["for one", "one again"]
    assert await got_other.wait_count(2) == ["for other", "other again"]


async def test_unsubscribed_callbacks_hear_nothing_more_and_the_others_keep_hearing(
    make_broker: Any,
) -> None:
    broker = await make_broker()
    channel = _channel()
    stays, goes = Inbox(), Inbox()
    await broker.subscribe(channel, stays)
    await broker.subscribe(channel, goes)
    await broker.publish(channel, "before")
    await goes.wait_count(1)
    await broker.unsubscribe(channel, goes)
    await broker.publish(channel, "after")
    # Both callbacks of a channel hear a message at the same time: "after" reached
    # ``stays``, so it would have reached ``goes`` too.
    assert await stays.wait_count(2) == ["before", "after"]
    assert goes.got == ["before"]
    await broker.unsubscribe(channel, stays)
    await broker.unsubscribe(channel, stays)  # twice is harmless
    await broker.publish(channel, "nobody")
    # A later message on the same connection, heard: "nobody" would have come before it.
    marker = Inbox()
    await broker.subscribe(channel, marker)
    await broker.publish(channel, "marker")
    assert await marker.wait_count(1) == ["marker"]
    assert stays.got == ["before", "after"]


async def test_a_failing_subscriber_does_not_starve_the_others(make_broker: Any) -> None:
    broker = await make_broker()
    channel = _channel()

    def broken(message: str | None) -> None:
        raise RuntimeError("subscriber bug")

    healthy = Inbox()
    await broker.subscribe(channel, broken)
    await broker.subscribe(channel, healthy)
    await broker.publish(channel, "one")
    await broker.publish(channel, "two")
    assert await healthy.wait_count(2) == ["one", "two"]


async def test_a_message_nobody_hears_is_gone_and_a_late_subscriber_hears_what_follows(
    make_broker: Any,
) -> None:
    """Publishing into the void is fine, delivers nothing, and keeps nothing: a subscriber
    that comes later hears only what is published after it subscribed. (Seen failing on
    the mutations "the broker keeps what nobody heard and hands it to the first
    subscriber" and "a channel that was published to with nobody listening delivers no
    more": the old version of this test only published and pinged, and passed both.)"""
    broker = await make_broker()
    channel = _channel()
    await broker.publish(channel, "into the void")
    await broker.publish_many([(channel, "still nobody")])
    await broker.ping()
    late = Inbox()
    await broker.subscribe(channel, late)
    await broker.publish(channel, "heard")
    assert await late.wait_count(1) == ["heard"]
    # One more, so that anything kept back from the void would have come before it.
    await broker.publish(channel, "heard too")
    assert await late.wait_count(2) == ["heard", "heard too"]


async def test_messages_cross_processes_unless_the_broker_is_single_process(
    make_broker: Any,
) -> None:
    a, b = await make_broker(), await make_broker()
    channel = _channel()
    on_b = Inbox()
    await b.subscribe(channel, on_b)
    # subscribe() returns once the subscription is live: a publish right after arrives.
    for i in range(20):
        await a.publish(channel, f"m{i}")
    if a.single_process:
        # What reaches a subscriber of ``a`` after the 20 would have reached ``b`` by then.
        on_a = Inbox()
        await a.subscribe(channel, on_a)
        await a.publish(channel, "marker")
        assert await on_a.wait_count(1) == ["marker"]
        assert on_b.got == []
    else:
        assert await on_b.wait_count(20) == [f"m{i}" for i in range(20)]


async def test_text_survives_the_round_trip_unchanged(make_broker: Any) -> None:
    broker = await make_broker()
    channel = _channel()
    inbox = Inbox()
    await broker.subscribe(channel, inbox)
    message = '7|note|{"text":"Ünïcode ✓ | pipes | and \\"quotes\\"","n":1}'
    await broker.publish(channel, message)
    assert await inbox.wait_count(1) == [message]
