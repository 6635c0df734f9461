"""Waiting for a condition with a deadline, so that no test sleeps a fixed time and hopes.

The deadline only bounds a failure: a passing test waits exactly as long as the condition takes,
so it passes on a loaded machine, and a broken one fails with the name of what never happened.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
TIMEOUT = 15.0
POLL = 0.02


def wait_for(
    predicate: Callable[[], T], what: str, timeout: float = TIMEOUT, poll: float = POLL
) -> T:
    """Poll `predicate` until it returns something truthy and return that; past the deadline
    an AssertionError says `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        time.sleep(poll)


async def until(
    predicate: Callable[[], T | Awaitable[T]],
    what: str,
    timeout: float = TIMEOUT,
    poll: float = POLL,
) -> T:
    """`wait_for` for a running event loop; `predicate` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        await asyncio.sleep(poll)
