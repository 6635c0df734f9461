"""Waiting for an `asyncio.Event` with a deadline, in the one way that cannot lose a cancel.

On Python 3.11 `asyncio.wait_for` drops a cancellation that arrives in the same turn as the
awaited thing completes, and a loop that lost its cancel never stops; a timeout scope does not.
"""

from __future__ import annotations

import asyncio


async def wait_at_most(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until `event` is set or `seconds` have passed (None: no limit); True when set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
