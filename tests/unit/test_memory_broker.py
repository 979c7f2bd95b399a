"""The broker contract, in-process on memory:// only (tests/realtime adds Redis), and what
only the in-process broker promises: delivery inside publish(), in order."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.realtime.backends import from_url
from app.realtime.broker import Broker
from app.realtime.memory import MemoryBroker
from tests.realtime.test_broker_contract import (  # noqa: F401 - collected here as well
    Inbox,
    test_a_failing_subscriber_does_not_starve_the_others,
    test_a_message_nobody_hears_is_gone_and_a_late_subscriber_hears_what_follows,
    test_a_message_reaches_only_its_own_channel,
    test_every_subscriber_gets_every_message_in_publish_order,
    test_messages_cross_processes_unless_the_broker_is_single_process,
    test_text_survives_the_round_trip_unchanged,
    test_unsubscribed_callbacks_hear_nothing_more_and_the_others_keep_hearing,
)


@pytest.fixture
async def make_broker() -> AsyncIterator[Callable[[], Any]]:
    made: list[Broker] = []

    async def make() -> Broker:
        broker = from_url("memory://").broker
        await broker.connect()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.disconnect()


def test_the_factory_picks_the_backend_by_scheme_and_refuses_others() -> None:
    assert isinstance(from_url("memory://").broker, MemoryBroker)
    assert from_url("memory://").single_process
    with pytest.raises(ValueError, match="unsupported broker URL scheme 'amqp'"):
        from_url("amqp://localhost")


async def test_subscribers_hear_a_message_before_publish_returns() -> None:
    broker = MemoryBroker()
    inbox = Inbox()
    await broker.subscribe("c", inbox)
    await broker.publish("c", "now")
    assert inbox.got == ["now"], "no task hop: the hub relies on this order"
