"""When the hub may skip the database for a token: in-process, real SQLite, memory broker."""

import asyncio

from app.models.session import SessionCreate
from app.realtime.hub import Hub
from app.sessions import Created, create_session, rotate_token


async def created(hub: Hub) -> Created:
    return await create_session(hub.db, SessionCreate(title="Unit"), {})


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_a_token_is_known_only_while_the_channel_has_listened_since(hub: Hub) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    hub.vouch(p, now())
    assert hub.known_participant(p.token_hash) is None, "no channel: ask the database"

    await hub._channel(p.session_id)
    assert hub.known_participant(p.token_hash) is None, "vouched before the channel listened"
    hub.vouch(p, now())
    assert hub.known_participant(p.token_hash) is p
    assert hub.known_participant("not-a-hash") is None


async def test_a_revocation_heard_forgets_the_token(hub: Hub) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    other = c.issued["producer"].participant
    await hub._channel(p.session_id)
    hub.vouch(p, now())
    hub.vouch(other, now())
    await hub.publish_control(p.session_id, {"type": "revoked", "participant_id": p.id})
    assert hub.known_participant(p.token_hash) is None
    assert hub.known_participant(other.token_hash) is other, "only that participant's"


async def test_a_revocation_heard_after_the_vouch_wins_even_if_the_entry_survived(
    hub: Hub,
) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    channel = await hub._channel(p.session_id)
    hub.vouch(p, now())
    channel.revocations.append((p.id, now()))  # heard, but the entry was not dropped
    assert hub.known_participant(p.token_hash) is None


async def test_a_deleted_session_forgets_its_tokens_and_a_closed_channel_stops_them(
    hub: Hub,
) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    await hub._channel(p.session_id)
    hub.vouch(p, now())
    await hub.publish_control(p.session_id, {"type": "deleted"})
    assert len(hub.tokens) == 0

    c2 = await created(hub)
    q = c2.issued["producer"].participant
    channel = await hub._channel(q.session_id)
    hub.vouch(q, now())
    await hub._release(channel)  # linger_s=0: closed at once
    assert hub.known_participant(q.token_hash) is None


async def test_the_token_check_after_attach_uses_what_the_channel_heard(hub: Hub) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    checked = now()
    await hub._channel(p.session_id)  # opened after the check: its model read participants
    assert hub.token_still_valid(p, checked) is True
    stale = p.model_copy(update={"token_hash": "rotated-meanwhile"})
    assert hub.token_still_valid(stale, checked) is None, "the database decides"
    later = now()
    await hub.publish_control(p.session_id, {"type": "revoked", "participant_id": p.id})
    assert hub.token_still_valid(p, later) is False


async def test_a_token_not_rechecked_for_trust_s_is_asked_of_the_database(hub: Hub) -> None:
    hub.trust_s = 0.2
    c = await created(hub)
    p = c.issued["facilitator"].participant
    await hub._channel(p.session_id)
    hub.vouch(p, now())
    assert hub.known_participant(p.token_hash) is p
    await asyncio.sleep(0.25)
    assert hub.known_participant(p.token_hash) is None, "older than trust_s"
    await hub.links.check()  # the database still agrees: trusted again from now
    assert hub.known_participant(p.token_hash) is p


async def test_the_recheck_forgets_a_token_rotated_where_this_process_could_not_hear_it(
    hub: Hub,
) -> None:
    c = await created(hub)
    p = c.issued["facilitator"].participant
    other = c.issued["producer"].participant
    await hub._channel(p.session_id)
    hub.vouch(p, now())
    hub.vouch(other, now())
    await asyncio.sleep(0.01)
    await rotate_token(hub.db, p.session_id, p.id)  # nothing published: nobody hears it
    assert hub.known_participant(p.token_hash) is p
    await hub.links.check()
    assert hub.known_participant(p.token_hash) is None
    assert hub.known_participant(other.token_hash) is other
