"""FastAPI dependencies: the app's services and the participant behind a bearer token."""

from typing import Annotated

from fastapi import Depends, Request

from app.errors import Forbidden, NotFound, RateLimited, Unauthorized
from app.models import Participant
from app.ratelimit import Limiter, Rate
from app.services import Services

# The participant found by the early token check (app/api/body_limit.py), reused by
# ``current_participant``.
PARTICIPANT_SCOPE_KEY = "backchannel.participant"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    return token.strip()


async def participant_for_session(
    request: Request, services: Services, session_id: str | None
) -> Participant:
    """The participant behind the request's bearer token, on ``session_id``'s routes."""
    participant = await services.participant_for_token(bearer_token(request))
    if session_id is not None and participant.session_id != session_id:
        # Same answer as an unknown session: a token says nothing about other sessions.
        raise NotFound("no such session")
    return participant


async def current_participant(request: Request, services: ServicesDep) -> Participant:
    session_id = request.path_params.get("session_id")
    # Checked already, before the body was read (app/api/body_limit.py)?
    early: Participant | None = request.scope.get(PARTICIPANT_SCOPE_KEY)
    if early is not None and early.session_id == session_id:
        return early
    return await participant_for_session(request, services, session_id)


ParticipantDep = Annotated[Participant, Depends(current_participant)]


def require_role(participant: Participant, *roles: str) -> None:
    if participant.role not in roles:
        raise Forbidden(f"a {participant.role} may not do this (needs {' or '.join(roles)})")


def limiter(services: Services) -> Limiter:
    """The HTTP rate limiter that the backends chose (``app.realtime.backends``): in Redis
    when the broker is Redis (shared by all processes), else in this process."""
    if services.limiter is None:
        raise RuntimeError("the app's services have no rate limiter")
    return services.limiter


async def rate_limit(
    services: Services, key: str, rate: Rate, what: str, cost: float = 1.0
) -> None:
    """Take ``cost`` tokens from ``key``'s bucket, or refuse with 429 and ``Retry-After``."""
    wait = await limiter(services).take(key, rate, cost)
    if wait:
        raise RateLimited(f"too many {what}; slow down", retry_after_s=wait)


async def limit_sends(services: Services, me: Participant) -> None:
    """HTTP sends per participant, as on a socket: about 20/s with bursts of 40."""
    s = services.settings
    await rate_limit(services, f"send:{me.id}", Rate(s.rate_per_s, s.rate_burst), "requests")


# What the smallest reads cost: a CSV, an export or a report (the whole session's worth of
# work however small the session), and a listing page of a few events.
WHOLE_READ_MIN = 1.0
PAGE_READ_MIN = 0.05


async def charge_read(services: Services, me: Participant, rows: int, minimum: float) -> None:
    """Charge a read by the rows it may return: one unit per ``heavy_read_rows_per_unit``
    (1,000), at least ``minimum``, against the heavy-read budget per token (about 2 units/s,
    bursts of 5) and per session over all its tokens (4/s, bursts of 10), so that adding
    participants to a session does not multiply what its readers can take from the server.
    A large read may leave a budget in debt (``app.ratelimit.TokenBucket.take``)."""
    s = services.settings
    cost = max(minimum, rows / s.heavy_read_rows_per_unit)
    what = "large reads (listings, exports, reports or CSV downloads)"
    rate = Rate(s.heavy_read_per_s, s.heavy_read_burst)
    await rate_limit(services, f"heavy:{me.id}", rate, what, cost)
    session_rate = Rate(s.heavy_read_session_per_s, s.heavy_read_session_burst)
    await rate_limit(
        services, f"heavy-session:{me.session_id}", session_rate, what + " of this session", cost
    )


async def limit_heavy_reads(services: Services, me: Participant) -> None:
    """A whole-session read (export, report, CSV) of a small session."""
    await charge_read(services, me, 0, WHOLE_READ_MIN)


async def limit_reads(services: Services, me: Participant) -> None:
    """Cheap reads (the session, an event's status, the playbook) per token: about 10/s
    with bursts of 20 — a Stream Deck polling its buttons' lights stays well inside — and
    per session, over all its tokens: 30/s, bursts of 60."""
    s = services.settings
    await rate_limit(services, f"read:{me.id}", Rate(s.read_per_s, s.read_burst), "reads")
    session_rate = Rate(s.read_session_per_s, s.read_session_burst)
    await rate_limit(
        services, f"read-session:{me.session_id}", session_rate, "reads of this session"
    )


async def limit_management(services: Services, me: Participant) -> None:
    """Managing a session (participants, rotate, revoke, PATCH, presets), per token: about
    2/s with bursts of 20 — a person clicking through the panel never meets it; a script
    adding, rotating or rewriting in a loop (each a write and a broadcast) does."""
    s = services.settings
    rate = Rate(s.manage_per_s, s.manage_burst)
    await rate_limit(services, f"manage:{me.id}", rate, "changes to this session")


async def limit_creates(services: Services, request: Request) -> None:
    """Sessions created without an organizer key, per client address: 30/min by default."""
    per_min = services.settings.create_per_min
    address = request.client.host if request.client else "unknown"
    rate = Rate(per_min / 60, per_min)
    await rate_limit(services, f"create:{address}", rate, "sessions created from your address")
