"""Tables and schemas. Importing this package registers every table on ``SQLModel.metadata``."""

from app.models.event import Event
from app.models.participant import Participant
from app.models.session import Session
from app.models.webhook import Webhook, WebhookDelivery

__all__ = ["Event", "Participant", "Session", "Webhook", "WebhookDelivery"]
