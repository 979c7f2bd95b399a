"""``Services``: what a running app holds (settings, database, broker, hub, presence), and
the commands the entry points run with them (views, appends that publish).

Top of the stack, not plumbing: ``main`` builds it in the lifespan, and only the entry
points (``api``, ``deps``, ``realtime.ws``) import this module; everything below them takes
the one piece it needs (a ``Database``, a ``Hub``) as an argument (docs/architecture.md).
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.db import Database
from app.errors import InvalidInput, NotFound
from app.heap import HeapPacer
from app.log import Appended, Author, append_event, check_event_id, get_event_by_id
from app.models import Participant
from app.ratelimit import Limiter, ReadSlots
from app.realtime.broker import Broker
from app.realtime.hub import Hub
from app.realtime.notifiers import HubNotifier
from app.realtime.presence import PresenceTracker
from app.roster import with_roster_names
from app.session_model import SessionModels
from app.sessions import get_session, hash_token, link_expired
from app.token_lookups import TokenLookups
from app.variables import merge_given, preset_body, uses_variables

if TYPE_CHECKING:
    from app.scheduler import Scheduler


@dataclass
class Services:
    settings: Settings
    db: Database
    broker: Broker
    hub: Hub
    presence: PresenceTracker
    scheduler: "Scheduler | None" = None
    heap: HeapPacer = field(default_factory=HeapPacer)
    limiter: Limiter | None = None  # HTTP rate limits (app.deps.limiter), made on first use
    lookups: TokenLookups | None = None  # the database's answer for tokens, batched
    read_slots: ReadSlots = field(default_factory=ReadSlots)  # one large read per session

    @property
    def models(self) -> SessionModels:
        return self.hub.models

    @property
    def notify(self) -> HubNotifier:
        """How ``app.commands`` tell the sessions' sockets of a stored change."""
        return HubNotifier(self.hub)

    async def participant_for_token(self, token: str) -> Participant:
        """The participant behind a live token: from what the hub knows when it can tell
        (a reconnect), else from the database (lookups that arrive together share a query)."""
        if token and len(token) <= 200:
            known = self.hub.known_participant(hash_token(token))
            if known is not None and not self._expired(known.session_id):
                return known
        if self.lookups is None:
            self.lookups = TokenLookups(self.db, link_ttl_days=self.settings.link_ttl_days)
        return await self.lookups.participant(token)

    def _expired(self, session_id: str) -> bool:
        """Has the session's link TTL run out, as far as its held model tells? (No model:
        only the database can tell.)"""
        ttl_days = self.settings.link_ttl_days
        model = self.models.held.get(session_id)
        if model is None:
            return ttl_days is not None
        return link_expired(model.state.ended_ms, ttl_days)


async def session_view(services: Services, session_id: str) -> dict[str, Any]:
    """``{session, state}``: the session and what a screen needs to draw itself."""
    return (await services.models.current(session_id)).view()


async def append_as(
    services: Services, session_id: str, author: Author, kind: Any, body: Any, event_id: Any
) -> Appended:
    """A client's event (WebSocket, HTTP, preset): learner names as the roster spells
    them, then appended and published."""
    if kind == "flag.learner":
        model = await services.models.current(session_id)
        body = with_roster_names(model.session.roster, kind, body)
    return await append_event(
        services.db, session_id, author, kind, body, event_id, after_commit=services.hub.publish
    )


async def append_preset(
    services: Services,
    session_id: str,
    author: Author,
    preset_id: Any,
    given: Any,
    event_id: Any,
    kind: Any = None,
    learner: Any = None,
) -> Appended:
    """A playbook preset sent (panel, HTTP, console, Companion): its variables filled from
    the session's state now (app.variables), what the client changed taken as given;
    ``learner``: whom the send is about (a flag's learner, and ``{learner}``)."""
    session = await get_session(services.db, session_id)
    preset = next((p for p in session.presets if p["preset_id"] == preset_id), None)
    if preset is None:
        raise NotFound(f"no preset {preset_id!r} in this session")
    if kind is not None and kind != preset["kind"]:
        raise InvalidInput(f"preset {preset_id!r} sends {preset['kind']}, not {kind!r}")
    template: dict[str, Any] = preset["body"]
    if event_id is not None and uses_variables(template):
        # A retry of a send whose text was filled earlier (the minutes have moved on since):
        # the original, not a conflict.
        existing = await get_event_by_id(services.db, session_id, check_event_id(event_id))
        if existing is not None and (existing.kind, existing.author_id) == (
            preset["kind"],
            author.participant_id,
        ):
            return Appended(existing, created=False)
    model = await services.models.current(session_id)
    body = await preset_body(services.db, model, preset, merge_given(template, given), learner)
    return await append_as(services, session_id, author, preset["kind"], body, event_id)
