"""FastAPI dependencies: the app's services and the participant behind a bearer token."""

from typing import Annotated

from fastapi import Depends, Request

from app.errors import Forbidden, NotFound, Unauthorized
from app.models import Participant
from app.services import Services


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


async def current_participant(request: Request, services: ServicesDep) -> Participant:
    participant = await services.participant_for_token(bearer_token(request))
    session_id = request.path_params.get("session_id")
    if session_id is not None and participant.session_id != session_id:
        # Same answer as an unknown session: a token says nothing about other sessions.
        raise NotFound("no such session")
    return participant


ParticipantDep = Annotated[Participant, Depends(current_participant)]


def require_role(participant: Participant, *roles: str) -> None:
    if participant.role not in roles:
        raise Forbidden(f"a {participant.role} may not do this (needs {' or '.join(roles)})")
