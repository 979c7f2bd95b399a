"""Tables and schemas. Importing this package registers every table on ``SQLModel.metadata``."""

from app.models.event import Event
from app.models.participant import Participant
from app.models.session import Session

__all__ = ["Event", "Participant", "Session"]
