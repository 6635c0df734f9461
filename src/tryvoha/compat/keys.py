"""API keys of the compatible surfaces: the hub's own tokens, checked with a short cache.

Any valid, unrevoked token of the hub is a key for both surfaces (alerts.in.ua `token`,
ukrainealarm `Authorization`); devices and apps get read-only keys (`token create --read-only`),
which read here like any other key. Checks are cached for a few seconds so polling costs no database
reads; unknown keys are cached too, in a bounded table.
"""

from __future__ import annotations

import time

from tryvoha.hub import Hub
from tryvoha.store import TokenInfo


class KeyCheck:
    def __init__(self, hub: Hub, ttl: float, max_entries: int = 10_000) -> None:
        self.hub = hub
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: dict[str, tuple[TokenInfo | None, float]] = {}

    async def token(self, plain: str) -> TokenInfo | None:
        """The valid token behind `plain`, or None when it is unknown or revoked."""
        now = time.monotonic()
        hit = self._seen.get(plain)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = await self.hub.read(self.hub.store.token_by_plaintext, plain)
        if found is not None and found.revoked_at is not None:
            found = None
        if len(self._seen) >= self.max_entries:
            self._seen.clear()
        self._seen[plain] = (found, now + self.ttl)
        return found

    def cached(self, plain: str) -> tuple[bool, TokenInfo | None]:
        """(True, token) when the answer for `plain` is cached and fresh; (False, None) if not."""
        hit = self._seen.get(plain)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def forget(self) -> None:
        self._seen.clear()
