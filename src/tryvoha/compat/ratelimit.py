"""Per-key request limits: a token bucket per key, answered with 429 and `Retry-After`.

A bucket holds `limit` requests and refills at `limit / window` per second, so a client may
burst up to the limit and then keeps the average rate. O(1) per request, no timers.

Each bucket is kept as its theoretical arrival time (GCRA) in whole nanoseconds times `limit`,
so every step is integer arithmetic: a client that waits exactly the `Retry-After` it was told
is served (float tokens drift, and 0.9999999999999999 of a request is a refusal).

The table of buckets is a bounded LRU: a fresh key takes the place of the least recently used
bucket that is not refusing requests right now. A bucket that is limiting its client is never
dropped, so a flood of fresh keys (or addresses) cannot reset anyone's limit; when every bucket
that could make room is limiting, fresh keys share one bucket until room frees up.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

NS = 1_000_000_000
SCAN = 32
"""Buckets looked at, least recently used first, to find room for a fresh key."""
CROWDED = ("crowded",)
"""The key fresh keys share while no bucket can make room for them."""


@dataclass(slots=True)
class Bucket:
    tat: int
    """When the bucket is next full, in nanoseconds × `limit`."""
    limit: int
    window: int
    """Nanoseconds."""

    def refuses(self, now: int) -> bool:
        """True when a request now would be refused: the bucket holds less than one request."""
        return self.tat - now * self.limit > self.window * (self.limit - 1)


class RateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, Bucket] = OrderedDict()

    def check(self, key: Hashable, limit: int, window: float) -> int | None:
        """Take one request from `key`'s bucket; None if allowed, else seconds to wait (≥ 1)."""
        if limit <= 0:
            return None
        now = round(self.clock() * NS)
        span = max(1, round(window * NS))
        bucket = self._bucket(key, limit, span, now)
        if bucket.limit != limit or bucket.window != span:  # the limit was reconfigured
            bucket.tat = -(-bucket.tat * limit // bucket.limit)
            bucket.limit, bucket.window = limit, span
        start = max(bucket.tat, now * limit)
        late = start - now * limit - span * (limit - 1)  # ns × limit past the burst allowance
        if late > 0:
            return max(1, -(-late // (limit * NS)))
        bucket.tat = start + span
        return None

    def _bucket(self, key: Hashable, limit: int, span: int, now: int) -> Bucket:
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is not None:
            buckets.move_to_end(key)
            return bucket
        if len(buckets) >= self.max_keys and not self._make_room(now):
            key = CROWDED
            bucket = buckets.get(key)
            if bucket is not None:
                buckets.move_to_end(key)
                return bucket
        bucket = buckets[key] = Bucket(now * limit, limit, span)
        return bucket

    def _make_room(self, now: int) -> bool:
        """Drop the least recently used bucket that is not limiting its client; buckets that
        are get another round at the recent end. False when none was found."""
        buckets = self._buckets
        for _ in range(min(SCAN, len(buckets))):
            key, bucket = next(iter(buckets.items()))
            if not bucket.refuses(now):
                del buckets[key]
                return True
            buckets.move_to_end(key)
        return False
