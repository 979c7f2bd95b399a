"""KeyedLocks: one lock per key, forgotten once nobody holds or waits for it."""

import asyncio

from app.locks import KeyedLocks


async def test_tasks_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            order.append("a1 in")
            inside.set()
            await release.wait()
            order.append("a1 out")

    async def second() -> None:
        await inside.wait()
        async with locks.hold("a"):
            order.append("a2 in")

    async def other() -> None:
        await inside.wait()
        async with locks.hold("b"):
            order.append("b in")

    tasks = [asyncio.create_task(f()) for f in (first, second, other)]
    await inside.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["a1 in", "b in"]  # b went ahead; the second "a" waits
    assert len(locks) == 1  # "a": held, with a waiter; "b" is forgotten already
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a1 in", "b in", "a1 out", "a2 in"]
    assert len(locks) == 0


async def test_a_failure_inside_lets_the_lock_go() -> None:
    locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
    try:
        async with locks.hold(("s", "p")):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with asyncio.timeout(1):
        async with locks.hold(("s", "p")):
            pass
