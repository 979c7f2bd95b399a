"""``LocalPresence``: sockets counted in this process — right for the in-memory broker, where
one process holds every socket (``app.realtime.presence`` has the rules)."""

import contextlib

from app.db import Database
from app.locks import KeyedLocks
from app.models import Participant
from app.realtime.presence import Arrivals, Drain, Key, Logbook, Publish, Timers, TooManySockets
from app.session_model import SessionModels


class LocalPresence(Arrivals):
    """Presence for one process that holds every socket (the in-memory broker)."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        models: SessionModels | None = None,
        *,
        max_sockets: int = 10,
        grace_s: float = 5.0,
    ) -> None:
        self.max_sockets = max_sockets
        self.grace_s = grace_s
        super().__init__()
        self._log = Logbook(db, publish, models or SessionModels(db))
        self._sockets: dict[Key, int] = {}
        self._checked: set[str] = set()  # sessions whose stale "online" were closed here
        self._timers = Timers(self._reconcile)
        self._locks: KeyedLocks[Key] = KeyedLocks()
        self._drain = Drain()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self._drain.wait()
        await self._background.wait()
        # The process is going away and cannot see a reconnect: log the pending now.
        pending = self._timers.keys()
        await self._timers.close()
        for key in pending:
            with contextlib.suppress(Exception):
                await self._reconcile(key)

    async def joined(self, participant: Participant) -> None:
        key = (participant.session_id, participant.id)
        n = self._sockets.get(key, 0)
        if n >= self.max_sockets:
            raise TooManySockets(f"at most {self.max_sockets} open sockets per participant")
        self._sockets[key] = n + 1
        self._drain.add(1)
        if n > 0:
            return
        if key in self._timers:
            self._timers.cancel(key)  # back within the grace: nothing to log
            return
        self._due.add(key)

    async def left(self, participant: Participant, *, stopped: bool = False) -> None:
        key = (participant.session_id, participant.id)
        n = self._sockets.get(key, 0) - 1
        if n < 0:
            return
        self._drain.add(-1)
        if n > 0:
            self._sockets[key] = n
            return
        del self._sockets[key]
        self._due.discard(key)
        if stopped:  # a dead link does not reconnect: no grace to wait for
            self._timers.cancel(key)
            self._background.spawn(self._reconcile(key), f"stop of {participant.id}")
        else:
            self._timers.schedule(key, self.grace_s)

    async def _arrive(self, key: Key) -> None:
        session_id = key[0]
        if session_id not in self._checked:
            # The first socket of the session in this process: whoever the log calls online
            # without a socket here may not be (a crash or restart logged no leaving). Their
            # `offline` is due after the grace, as for any socket that closed: after a
            # restart everyone is back within it, and nothing is logged.
            self._checked.add(session_id)
            for pid in await self._log.online_in_log(session_id):
                other = (session_id, pid)
                if other != key and other not in self._timers and other not in self._sockets:
                    self._timers.schedule(other, self.grace_s)
        await self._reconcile(key)

    async def _reconcile(self, key: Key) -> None:
        async with self._locks.hold(key):
            await self._log.write(key, self._sockets.get(key, 0) > 0)
