"""``from_url()``: the broker backend for a URL scheme.

The one module that imports the backends; Redis is imported only when it is asked for, so
a single-process server never loads redis-py.
"""

from app.realtime.broker import Broker


def from_url(url: str) -> Broker:
    """``memory://`` or ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://``)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from app.realtime.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from app.realtime.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (use memory:// or redis://)")
