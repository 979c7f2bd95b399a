"""The scheduler's SessionFeed over the hub: in process, real SQLite, the memory broker."""

from app.log import SYSTEM_AUTHOR, append_event
from app.models.session import SessionCreate
from app.realtime.channel import channel_name, message_kind
from app.realtime.hub import Hub
from app.realtime.session_feed import HubSessionFeed
from app.sessions import create_session


def test_a_channel_message_is_read_as_its_kind_or_as_look_again() -> None:
    assert message_kind('7|alert.stop|{"type":"event"}') == "alert.stop"
    assert message_kind("!" + '{"type":"session"}') is None  # settings changed
    assert message_kind(None) is None  # messages may have been lost
    assert message_kind("garbled") == ""


async def test_the_feed_tells_of_committed_events_and_of_a_watched_sessions_channel(
    hub: Hub,
) -> None:
    feed = HubSessionFeed(hub)
    heard: list[tuple[str, str | None]] = []
    feed.listen(lambda sid, kind: heard.append((sid, kind)))
    session_id = (await create_session(hub.db, SessionCreate(title="Feed"), {})).session.id

    await append_event(
        hub.db,
        session_id,
        SYSTEM_AUTHOR,
        "prompt.time",
        {"text": "5 min"},
        "sys:1",
        after_commit=feed.publish,
    )
    assert heard == [(session_id, "prompt.time")]

    # Another process's event, and a settings change, on the session's channel: heard only
    # while the session is watched.
    name = channel_name(session_id)
    await hub.broker.publish(name, '9|segment.start|{"type":"event"}')
    assert len(heard) == 1
    await feed.watch(session_id)
    await feed.watch(session_id)  # (idempotent: one subscription)
    await hub.broker.publish(name, '9|segment.start|{"type":"event"}')
    await hub.broker.publish(name, '!{"type":"session"}')
    assert heard[1:] == [(session_id, "segment.start"), (session_id, None)]
    await feed.close()
    await hub.broker.publish(name, '10|segment.end|{"type":"event"}')
    assert len(heard) == 3
