"""Errors as values: each failure has one class and a searchable ``code``.

The HTTP layer and the WebSocket layer turn these into replies in one place each.
"""

from typing import Any


class AppError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(AppError):
    code = "invalid_input"
    status = 422


class InvalidBody(AppError):
    code = "invalid_body"
    status = 422


class UnknownKind(AppError):
    code = "unknown_kind"
    status = 422


class InvalidId(AppError):
    code = "invalid_id"
    status = 422


class Unauthorized(AppError):
    code = "unauthorized"
    status = 401


class LinkExpired(Unauthorized):
    code = "link_expired"


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class KindNotAllowed(AppError):
    code = "kind_not_allowed"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class IdempotencyConflict(AppError):
    code = "idempotency_conflict"
    status = 409


class SessionEnded(AppError):
    code = "session_ended"
    status = 409


class LastProducer(AppError):
    code = "last_producer"
    status = 409


class SegmentStarted(AppError):
    code = "segment_started"
    status = 409


class TooManyParticipants(AppError):
    code = "too_many_participants"
    status = 409


class ParticipantRevoked(AppError):
    code = "participant_revoked"
    status = 409


class RateLimited(AppError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(AppError):
    code = "unavailable"
    status = 503
