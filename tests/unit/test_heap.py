"""HeapPacer: what it freezes and when it gives frozen garbage back (in-process)."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.heap import HeapPacer


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_it_freezes_every_burst_of_new_sockets_even_while_they_keep_coming() -> None:
    pacer = HeapPacer(burst=3, quiet_s=1.0, reclaim_s=100.0)
    t = 1000.0
    for _ in range(2):
        pacer.opened_one()
    pacer.tick(t)
    assert pacer.freezes == 0 and gc.get_freeze_count() == 0
    pacer.opened_one()
    pacer.tick(t)  # not quiet (a socket just opened), yet a burst is frozen
    assert pacer.freezes == 1 and gc.get_freeze_count() > 0
    assert pacer.opened == 0


def test_frozen_cycles_are_reclaimed_only_when_quiet_and_not_too_often() -> None:
    pacer = HeapPacer(burst=2, quiet_s=1.0, reclaim_s=100.0)
    garbage = weakref.ref(Cycle())  # garbage that only the collector can free
    gc.freeze()
    start = pacer._last_reclaim
    for _ in range(2):
        pacer.closed_one()
    busy = pacer._last_change
    pacer.tick(busy)  # sockets just closed: not quiet
    assert pacer.reclaims == 0
    pacer.tick(busy + 2)  # quiet, but the last reclaim was too recent
    assert pacer.reclaims == 0
    gc.collect()
    assert garbage() is not None, "frozen: out of the collector's sight"
    pacer.tick(start + 101)
    assert pacer.reclaims == 1 and pacer.closed == 0
    assert garbage() is None, "collected"
    assert gc.get_freeze_count() > 0, "what lives is frozen again"


class Node:
    def __init__(self, n: int) -> None:
        self.n = n


async def test_what_survives_a_full_collection_is_frozen_at_the_next_tick() -> None:
    """A large model built after start-up (objects that live on) is walked by one full
    collection, not by every one after it."""
    pacer = HeapPacer(burst=1000, quiet_s=1.0, reclaim_s=100.0)
    pacer.watch_collections()
    try:
        kept = [Node(i) for i in range(10_000)]  # long-lived, as a session's model is
        pacer.full_collections = 0  # (whatever the collector did while they were made)
        gc.unfreeze()
        pacer.tick(pacer._last_change)
        assert pacer.freezes == 0 and gc.get_freeze_count() == 0, "no full collection yet"
        gc.collect()  # as the collector's own, when the old generation has grown
        assert pacer.full_collections == 1
        pacer.tick(pacer._last_change)
        assert pacer.freezes == 1 and pacer.full_collections == 0
        assert gc.get_freeze_count() >= len(kept)
        pacer.tick(pacer._last_change)
        assert pacer.freezes == 1, "nothing more to freeze until the next full collection"
    finally:
        gc.callbacks.remove(pacer._after_collection)


async def test_many_freezes_after_full_collections_lead_to_a_reclaim_when_quiet() -> None:
    pacer = HeapPacer(burst=1000, quiet_s=1.0, reclaim_s=100.0)
    garbage = weakref.ref(Cycle())
    gc.freeze()
    pacer.frozen_since_reclaim = 10
    pacer.tick(pacer._last_reclaim + 101)
    assert pacer.reclaims == 1 and pacer.frozen_since_reclaim == 0
    assert garbage() is None, "collected"
