"""Every await on NATS is bounded, and a bound never eats the cancellation that stops a loop.

On Python 3.11 `asyncio.wait_for` drops a cancel that arrives as the awaited thing completes;
the feed's and the relay's loops would then run on after a stop. These tests cancel at exactly
that moment.
"""

from __future__ import annotations

import asyncio

import pytest

from tryvoha.bus.logstream import bounded, stop_task


async def test_a_cancel_that_meets_the_answer_still_cancels() -> None:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(bounded(inner, 5, "answer"))
    await asyncio.sleep(0)  # the task now waits on `inner`
    inner.set_result("answered")
    task.cancel()  # in the same turn as the answer
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()


async def test_no_answer_within_the_bound_is_a_timeout_that_names_the_call() -> None:
    never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError, match=r"stream info: no answer from NATS within 0\.05 s"):
        await bounded(never, 0.05, "stream info")
    assert never.cancelled()


async def test_an_answer_within_the_bound_is_returned() -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    ready.set_result("info")
    assert await bounded(ready, 1, "stream info") == "info"


async def test_stop_task_gives_up_on_a_task_that_ignores_its_cancel() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # what a swallowed cancel looks like from outside

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_task(task, 0.1, "the stubborn loop")
    assert loop.time() - started < 5 and not task.done()
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()
