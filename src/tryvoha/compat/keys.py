"""API keys of the compatible surfaces: the hub's own tokens, checked with a short cache.

Any valid, unrevoked token of the hub is a key for both surfaces (alerts.in.ua `token`,
ukrainealarm `Authorization`); devices and apps get read-only keys (`token create --read-only`),
which read here like any other key. Checks are cached for a few seconds so polling costs no database
reads; unknown keys are cached too. The cache holds at most `max_entries` checks, least recently
used first out, so a flood of made-up keys cannot grow it nor push out the keys in use; a key
longer than any token is refused without a lookup or an entry.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from tryvoha.readmodel import ReadModel
from tryvoha.store import TokenInfo

MAX_KEY_LENGTH = 256


class KeyCheck:
    def __init__(self, hub: ReadModel, ttl: float, max_entries: int = 10_000) -> None:
        self.hub = hub
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: OrderedDict[str, tuple[TokenInfo | None, float]] = OrderedDict()

    async def token(self, plain: str) -> TokenInfo | None:
        """The valid token behind `plain`, or None when it is unknown or revoked."""
        if len(plain) > MAX_KEY_LENGTH:
            return None
        now = time.monotonic()
        hit = self._seen.get(plain)
        if hit is not None and hit[1] > now:
            self._seen.move_to_end(plain)
            return hit[0]
        found = await self.hub.read(self.hub.store.token_by_plaintext, plain)
        if found is not None and found.revoked_at is not None:
            found = None
        self._seen[plain] = (found, now + self.ttl)
        self._seen.move_to_end(plain)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return found

    def cached(self, plain: str) -> tuple[bool, TokenInfo | None]:
        """(True, token) when the answer for `plain` is cached and fresh; (False, None) if not."""
        if len(plain) > MAX_KEY_LENGTH:
            return True, None
        hit = self._seen.get(plain)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def forget(self) -> None:
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)
