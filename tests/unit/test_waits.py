"""waits.py: an event waited for at most so long, without ever losing the cancel of a stop."""

from __future__ import annotations

import asyncio

from tryvoha.waits import wait_at_most


async def test_true_when_the_event_is_set_false_when_the_time_runs_out() -> None:
    event = asyncio.Event()
    assert await wait_at_most(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_at_most(event, 5) is True
    assert await wait_at_most(event, None) is True  # no limit, already set


async def test_a_cancel_that_meets_the_event_still_cancels() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(wait_at_most(event, 5))
    await asyncio.sleep(0)  # the task now waits on the event
    event.set()
    task.cancel()  # in the same turn as the event
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
