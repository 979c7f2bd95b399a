"""Who is online: ``presence`` events in the log, and at most N sockets per participant.

A participant is online while at least one of their sockets is open, in any process. The
log gets ``online`` when the first socket opens, and ``offline`` only once the last one has
stayed closed for ``grace_s``: a reconnect within the grace logs nothing, so connecting in a
loop cannot grow the log. Each transition is appended by *reconciling*: compare "has an open
socket" with the participant's last presence event and append the difference with the id
``presence:<participant>:<n>`` (their n-th presence event), so it is logged once even when
two processes race.

This module holds what every backend shares: the ``PresenceTracker`` interface, the
``Logbook`` that reads and writes presence in the log, and the timers and background work
of ``Arrivals``. The backends, picked by ``app.realtime.backends``: ``presence_local``
(``LocalPresence``, one process holds every socket) and ``presence_redis`` (``RedisPresence``,
sockets counted across processes in Redis).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from app.clock import Timer, clock
from app.db import Database
from app.errors import AppError
from app.log import SYSTEM_AUTHOR, append_event
from app.models import Event, Participant
from app.session_model import SessionModels
from app.tasks import cancel_and_wait

log = logging.getLogger(__name__)


RETRY_S = 2.0  # a re-check that failed runs again after this long


Publish = Callable[[Event], Awaitable[None]]


Key = tuple[str, str]  # (session id, participant id)


class TooManySockets(Exception):
    """The participant has ``max_sockets`` open already (the socket closes with 4409)."""


class PresenceTracker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def joined(self, participant: Participant) -> None:
        """Count a new socket before its welcome, or raise TooManySockets (then it is not
        counted)."""

    def welcomed(self, participant: Participant) -> None:
        """The socket ``joined`` counted has its welcome: log ``online`` if that is due, in
        the background (off the connect path)."""

    async def left(self, participant: Participant, *, stopped: bool = False) -> None:
        """Uncount a socket that ``joined`` accepted. ``stopped``: its link was rotated or
        revoked (close 4401): it will not come back, so if it was the participant's last
        socket their ``offline`` is logged at once, without the grace."""

    async def settled(self) -> None:
        """Until the presence work started so far has run."""


class Logbook:
    """Each participant's presence as the log has it, and the append of a transition.

    What the log says comes from the session's model (held by the hub while a socket is
    open, else cached and caught up from the log's tail): no read of the presence events.
    The model hears of an append a moment after its commit, so what this process appended
    is remembered until the model has it. An append whose id is taken (another process, or
    a model behind) returns the event that holds the id: the model is waited for until it
    has that event, and the transition looked at again.
    """

    def __init__(self, db: Database, publish: Publish, models: SessionModels) -> None:
        self.db = db
        self.publish = publish
        self.models = models
        self._appended: dict[Key, tuple[int, bool]] = {}

    async def says(self, key: Key) -> tuple[int, bool]:
        """(how many presence events the participant has, does the last say online)."""
        model = await self.models.current(key[0])
        logged = model.presence.get(key[1], (0, False))
        mine = self._appended.get(key)
        if mine is None:
            return logged
        if mine[0] > logged[0]:
            return mine
        del self._appended[key]  # the model has caught up
        return logged

    async def online_in_log(self, session_id: str) -> list[str]:
        """The participants the log calls online."""
        model = await self.models.current(session_id)
        return [pid for pid, (_, online) in model.presence.items() if online]

    async def write(self, key: Key, online: bool) -> None:
        """Log ``online``/``offline`` for the participant unless the log says so already."""
        session_id, participant_id = key
        for _ in range(5):
            n, says_online = await self.says(key)
            if says_online == online:
                return
            try:
                appended = await append_event(
                    self.db,
                    session_id,
                    SYSTEM_AUTHOR,
                    "presence",
                    {"participant_id": participant_id, "status": status(online)},
                    f"presence:{participant_id}:{n + 1}",
                    after_commit=self.publish,
                )
            except AppError as err:  # the session is gone, or the id holds another event
                log.debug("presence for %s not appended: %s", participant_id, err.code)
                return
            if appended.created:
                self._appended[key] = (n + 1, online)
                return
            # The id was taken (another process logged a transition the model has not
            # heard of yet): look again once the model has caught up with it.
            await self._caught_up(session_id, appended.event.seq)
        log.warning("presence for %s: the log kept moving; left as it is", participant_id)

    async def _caught_up(self, session_id: str, seq: int, timeout_s: float = 3.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (await self.models.current(session_id)).last_seq < seq:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


def status(online: bool) -> str:
    return "online" if online else "offline"


class Background:
    """Presence work that runs after the socket's welcome, not on its connect path."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(self._guard(coro, what), name="presence")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await coro
        except Exception as exc:  # presence is best effort: never fail the socket for it
            log.warning("presence: %s not recorded (%r)", what, exc)

    async def wait(self) -> None:
        """Until what was spawned so far has run (tests; stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class Timers:
    """One pending re-check per participant (a due ``offline``), run as a task when due."""

    def __init__(self, run: Callable[[Key], Coroutine[Any, Any, None]]) -> None:
        self._run = run
        self._handles: dict[Key, Timer] = {}  # on the movable clock (tests move it)
        self._tasks: set[asyncio.Task[None]] = set()

    def __contains__(self, key: Key) -> bool:
        return key in self._handles

    def keys(self) -> list[Key]:
        return list(self._handles)

    def schedule(self, key: Key, delay_s: float) -> None:
        self.cancel(key)
        self._handles[key] = clock.call_later(max(delay_s, 0), self._fire, key)

    def cancel(self, key: Key) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: Key) -> None:
        self._handles.pop(key, None)
        task = asyncio.create_task(self._recheck(key), name="presence-recheck")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recheck(self, key: Key) -> None:
        try:
            await self._run(key)
        except Exception as exc:  # the database or Redis is away: try again a bit later
            log.warning("presence: re-check of %s failed (%r); retrying", key[1], exc)
            if key not in self._handles:
                self.schedule(key, RETRY_S)

    async def close(self) -> None:
        for key in self.keys():
            self.cancel(key)
        await cancel_and_wait(*self._tasks)


class Drain:
    """Lets stop() wait (bounded) for the sockets that are closing to call left()."""

    def __init__(self) -> None:
        self.open = 0
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, n: int) -> None:
        self.open += n
        if self.open > 0:
            self._empty.clear()
        else:
            self._empty.set()

    async def wait(self, timeout_s: float = 2.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout_s)


class Arrivals:
    """What both trackers do around a welcome: the first socket of a participant, counted by
    ``joined``, is logged ``online`` after its welcome, in the background."""

    def __init__(self) -> None:
        self._due: set[Key] = set()  # counted, first of the participant, not welcomed yet
        self._background = Background()

    def welcomed(self, participant: Participant) -> None:
        key = (participant.session_id, participant.id)
        if key in self._due:
            self._due.discard(key)
            self._background.spawn(self._arrive(key), f"join of {participant.id}")

    async def settled(self) -> None:
        await self._background.wait()

    async def _arrive(self, key: Key) -> None:
        raise NotImplementedError
