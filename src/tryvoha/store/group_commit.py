"""Group commit: requests that arrive while a commit is in flight share the next transaction.

A durable commit costs one fsync (SQLite) or one round trip and WAL flush (PostgreSQL), whatever
it holds, so a burst of N commands committed one by one waits N fsyncs in series. Before a
transaction the queue lets the event loop turn while each turn brings more requests: the
commands of many operators sending at once reach it a few per turn (each has its HTTP request
read and checked first), and so they go in one transaction, not in a first one with the first
few and a second with the rest. A lone request costs one turn of the loop, no timer; the wait is
bounded by `gather` seconds. Whatever arrives while a transaction is in flight is folded into
the next batch, up to `max_batch` requests. The batch function
gives each request its own result or its own exception, so one refused request leaves its
batch-mates alone; results are handed out in the order the requests arrived, which is the order
of the log, and only after the batch function returned (i.e. after its transaction is durable).

The drain runs as a task of its own: a caller that goes away (a client that hung up) does not
cancel a commit half way; its request is committed and folded like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 256
"""Requests per transaction, at most: bounds the queue's work per fsync and the answer time of
the first request in a batch. Range 1 .. 10,000."""
GATHER = 0.005
"""Seconds a batch may wait, at most, for requests still arriving turn after turn of the loop.
Range 0 .. 0.1; 0 commits what is queued at once."""

BatchFn = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class CommitQueue(Generic[T, R]):
    """Requests in, one result (or exception) per request out, committed in batches by `run`.

    `run(batch)` must return one entry per request, in order: the result, or the exception that
    request is refused with. An exception raised by `run` itself fails every request of its
    batch (nothing of it was committed)."""

    def __init__(
        self, run: BatchFn[T, R], max_batch: int = MAX_BATCH, gather: float = GATHER
    ) -> None:
        if not 1 <= max_batch <= 10_000:
            raise ValueError(f"max_batch is 1 .. 10,000, not {max_batch}")
        if not 0 <= gather <= 0.1:
            raise ValueError(f"gather is 0 .. 0.1 seconds, not {gather}")
        self._run = run
        self.max_batch = max_batch
        self.gather = gather
        self._pending: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._drain: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions run so far (for benchmarks and tests: how much was folded)."""
        self.largest = 0
        """The most requests one transaction held so far."""

    @property
    def queued(self) -> int:
        """Requests waiting for the next transaction (not counting the one in flight)."""
        return len(self._pending)

    async def submit(self, request: T) -> R:
        """Queue `request` and wait for its own result; raises what it was refused with."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        future.add_done_callback(_consume)  # a caller that went away leaves no warning behind
        self._pending.append((request, future))
        if self._drain is None:
            self._drain = loop.create_task(self._drain_all())
        return await asyncio.shield(future)

    async def _drain_all(self) -> None:
        try:
            while self._pending:
                await self._gather()
                count = min(len(self._pending), self.max_batch)
                batch = [self._pending.popleft() for _ in range(count)]
                self.batches += 1
                self.largest = max(self.largest, count)
                try:
                    results = await self._run([request for request, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(
                            f"the batch function answered {len(results)} of {len(batch)}"
                        )
                except Exception as exc:  # nothing of this batch is acknowledged
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drain = None
            if self._pending:  # cancelled (shutdown): nobody will commit these
                for _, future in self._pending:
                    if not future.done():
                        future.set_exception(RuntimeError("the writer stopped"))
                self._pending.clear()

    async def _gather(self) -> None:
        """Turn the loop while each turn queues more requests, up to `gather` seconds."""
        if self.gather <= 0:
            return
        deadline = time.monotonic() + self.gather
        seen = len(self._pending)
        while seen < self.max_batch:
            await asyncio.sleep(0)
            now = len(self._pending)
            if now == seen or time.monotonic() >= deadline:
                return
            seen = now

    async def close(self) -> None:
        """Let the requests queued so far be committed, then return."""
        drain = self._drain
        if drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(drain)


def _consume(future: asyncio.Future[R]) -> None:
    if not future.cancelled():
        future.exception()
