"""cancel_and_wait stops a task that lost its first cancellation (Python 3.11's wait_for can
lose one), where cancelling once and awaiting waits for ever."""

import asyncio

import pytest

from app.tasks import cancel_and_wait


def _loses_one_cancel() -> tuple[asyncio.Task[None], list[str]]:
    """A loop that, like ``wait_for(event.wait(), t)`` woken as it is cancelled, goes round
    once more after its first cancellation."""
    rounds: list[str] = []

    async def loop() -> None:
        lost = False
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost = True
                rounds.append("cancel lost")

    return asyncio.create_task(loop()), rounds


async def test_a_task_that_lost_its_cancellation_is_cancelled_again() -> None:
    task, rounds = _loses_one_cancel()
    await asyncio.sleep(0.02)
    await asyncio.wait_for(cancel_and_wait(task), 2)
    assert task.cancelled() and rounds == ["cancel lost"]


async def test_cancelling_once_would_have_waited_for_ever() -> None:
    task, _ = _loses_one_cancel()
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), 0.3)
    await cancel_and_wait(task)
    assert task.done()


async def test_a_task_that_will_not_end_is_left_after_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stubborn_until = asyncio.Event()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                if stubborn_until.is_set():
                    raise

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await cancel_and_wait(task, give_up_s=0.3)
    assert not task.done() and "stubborn" in caplog.text
    stubborn_until.set()
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_done_failed_and_missing_tasks_are_fine() -> None:
    async def fails() -> None:
        raise RuntimeError("before its stop")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait(failed, None)
    assert isinstance(failed.exception(), RuntimeError)
