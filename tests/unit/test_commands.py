"""Commands store, then notify (app/commands.py); the server's and the CLI's notifiers tell
the sockets the same thing. In process, real SQLite, the memory broker."""

import orjson

from app import commands
from app.db import Database
from app.errors import NotFound
from app.models.participant import ParticipantCreate
from app.models.session import SessionCreate, SessionUpdate
from app.realtime.channel import channel_name
from app.realtime.hub import Hub
from app.realtime.notifiers import BrokerNotifier, HubNotifier
from app.sessions import create_session, get_session, list_participants


class Witness:
    """A notifier that writes down, at each notice, what the database holds by then."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.heard: list[tuple[str, object]] = []

    async def changed(self, session_id: str) -> None:
        session = await get_session(self.db, session_id)
        people = await list_participants(self.db, session_id)
        self.heard.append(("changed", (session.title, len(people))))

    async def deleted(self, session_id: str) -> None:
        try:
            await get_session(self.db, session_id)
            self.heard.append(("deleted", "still there"))
        except NotFound:
            self.heard.append(("deleted", "gone"))

    async def revoked(
        self, session_id: str, participant_id: str, old_token_hash: str | None = None
    ) -> None:
        people = {p.id: p for p in await list_participants(self.db, session_id)}
        p = people[participant_id]
        self.heard.append(
            ("revoked", (p.revoked_ms is not None, old_token_hash not in (None, p.token_hash)))
        )


async def test_each_command_notifies_once_what_it_stored(hub: Hub) -> None:
    db = hub.db
    created = await create_session(db, SessionCreate(title="Commands"), {})
    sid = created.session.id
    facilitator = created.issued["facilitator"].participant.id
    witness = Witness(db)

    await commands.change(db, witness, sid, SessionUpdate(title="Renamed"))
    issued = await commands.add(db, witness, sid, ParticipantCreate(role="observer", name="Obs"))
    await commands.rotate(db, witness, sid, facilitator)
    await commands.revoke(db, witness, sid, issued.participant.id)
    await commands.erase(db, witness, sid)
    assert witness.heard == [
        ("changed", ("Renamed", 3)),
        ("changed", ("Renamed", 4)),
        ("revoked", (False, True)),  # a rotation: the old token named, the link kept
        ("revoked", (True, False)),
        ("deleted", "gone"),
    ]


async def test_the_cli_and_the_server_tell_other_processes_the_same_thing(hub: Hub) -> None:
    """What the CLI publishes (BrokerNotifier) is what the server does (HubNotifier)."""
    sid = (await create_session(hub.db, SessionCreate(title="Same"), {})).session.id
    heard: list[str | None] = []
    await hub.broker.subscribe(channel_name(sid), heard.append)
    for notifier in (HubNotifier(hub), BrokerNotifier(hub.broker)):
        await notifier.changed(sid)
        await notifier.revoked(sid, "p1", "a" * 64)
        await notifier.revoked(sid, "p2")
        await notifier.deleted(sid)
    server, cli = heard[:4], heard[4:]
    assert cli == server
    assert [orjson.loads(str(m)[1:]) for m in cli] == [
        {"type": "session", "changed": True},
        {"type": "revoked", "participant_id": "p1", "token": "a" * 16},
        {"type": "revoked", "participant_id": "p2"},
        {"type": "deleted"},
    ]
