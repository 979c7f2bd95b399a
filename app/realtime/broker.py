"""The publish/subscribe interface between server processes (the backends: backends.py).

A broker moves opaque text messages on named channels. It knows nothing of sessions or
events and imports nothing from the app. Delivery is best effort: a backend that may have
dropped messages (a Redis reconnect) calls the subscriber with ``None`` so it can catch up
from the log.
"""

import abc
from collections.abc import Callable, Sequence

# Called with each message on the channel, or with None after a possible loss.
Callback = Callable[[str | None], None]


class Broker(abc.ABC):
    #: True when every subscriber lives in this process (the in-memory broker).
    single_process: bool = False

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once at start."""

    async def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close connections; called once at shutdown."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: str) -> None:
        """Send ``message`` to every subscriber of ``channel`` (in every process)."""

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """Publish ``(channel, message)`` pairs in this order; a backend may send them all
        in one round trip."""
        for channel, message in messages:
            await self.publish(channel, message)

    @abc.abstractmethod
    async def subscribe(self, channel: str, callback: Callback) -> None:
        """Start calling ``callback`` for messages on ``channel``."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str, callback: Callback) -> None:
        """Stop calling ``callback``; the channel is dropped with its last subscriber."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise if the broker cannot be reached (readiness check)."""
