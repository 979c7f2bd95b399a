"""``from_url()``: the deployment's backends, picked once by the broker URL's scheme.

``memory://`` — one process holds every socket: the in-process broker, presence counted in
this process, rate limits in this process. ``redis://`` (``rediss://``, ``unix://``) —
several processes share the sockets: the Redis broker, presence counted in Redis with
expiry, rate limits in Redis. This is the one module that imports the backends, and
redis-py only when a Redis URL asks for it: a single-process server never loads it.
"""

import abc

from app.config import Settings
from app.ratelimit import Limiter
from app.realtime.broker import Broker
from app.realtime.hub import Hub
from app.realtime.presence import PresenceTracker

REDIS_SCHEMES = ("redis", "rediss", "unix")


class Backends(abc.ABC):
    """The broker, presence and rate limits of one deployment, made to go together."""

    def __init__(self, url: str, broker: Broker) -> None:
        self.url = url
        self.broker = broker

    @property
    def single_process(self) -> bool:
        """Every socket and every event of the deployment is in this process."""
        return self.broker.single_process

    @abc.abstractmethod
    def presence(self, hub: Hub, settings: Settings) -> PresenceTracker:
        """Who is online, and the socket cap per participant, over ``hub``'s database."""

    @abc.abstractmethod
    def limiter(self) -> Limiter:
        """The HTTP rate limiter."""


class MemoryBackends(Backends):
    def __init__(self, url: str) -> None:
        from app.realtime.memory import MemoryBroker

        super().__init__(url, MemoryBroker())

    def presence(self, hub: Hub, settings: Settings) -> PresenceTracker:
        from app.realtime.presence_local import LocalPresence

        return LocalPresence(
            hub.db,
            hub.publish,
            hub.models,
            max_sockets=settings.max_sockets_per_participant,
            grace_s=settings.presence_grace_s,
        )

    def limiter(self) -> Limiter:
        from app.ratelimit import LocalLimiter

        return LocalLimiter()


class RedisBackends(Backends):
    def __init__(self, url: str) -> None:
        from app.realtime.redis import RedisBroker

        self.redis_broker = RedisBroker(url)
        super().__init__(url, self.redis_broker)

    def presence(self, hub: Hub, settings: Settings) -> PresenceTracker:
        from app.realtime.presence_redis import RedisPresence

        # Several processes share the sockets: count them in Redis, with expiry.
        return RedisPresence(
            hub.db,
            hub.publish,
            self.url,
            hub.models,
            ttl_s=settings.presence_ttl_s,
            max_sockets=settings.max_sockets_per_participant,
            grace_s=settings.presence_grace_s,
        )

    def limiter(self) -> Limiter:
        from app.ratelimit import RedisLimiter

        # Shared by every process (``--workers N`` does not multiply limits), on the
        # broker's connection.
        return RedisLimiter(self.redis_broker.client)


def _kind(url: str) -> type[MemoryBackends] | type[RedisBackends]:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryBackends
    if scheme in REDIS_SCHEMES:
        return RedisBackends
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (use memory:// or redis://)")


def from_url(url: str) -> Backends:
    """``memory://`` or ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://``)."""
    return _kind(url)(url)


def is_single_process(url: str) -> bool:
    """Whether ``url``'s backends hold everything in one process (``memory://``)."""
    return _kind(url) is MemoryBackends
