"""Where an outward sender stopped in the log, kept in `meta` so the next writer continues there.

One sender per channel runs cluster-wide, on the active writer; when a standby takes over, its
sender reads the position the last one stored and sends everything after it (at least once: a
sender may die after sending and before storing). The webhook outbox keeps its own position in
the transaction that writes its rows (`tryvoha.store.webhooks`); MQTT and the compatible
(ukrainealarm) webhooks keep theirs here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tryvoha.hub import Hub

MQTT_POSITION_KEY = "mqtt.position"
"""The log id up to which MQTT's events and retained statuses were acknowledged by the broker."""
COMPAT_HOOKS_POSITION_KEY = "compat_webhooks.position"
"""The log id up to which every change was tried on the ukrainealarm webhooks."""


class Position(Protocol):
    """Where the last sender stopped, kept durably."""

    async def load(self) -> int | None: ...

    async def save(self, log_id: int) -> None: ...


class StoredPosition:
    """A sender's last log id in `meta`, read on the hub's reader pool and written from the
    writer's thread (every write of the hub leaves from there)."""

    def __init__(self, hub: Hub, key: str) -> None:
        self.hub = hub
        self.key = key

    async def load(self) -> int | None:
        """The stored log id; None when no sender stored one yet (a fresh database)."""
        value = await self.hub.read(self.hub.store.get_meta, self.key)
        return None if value is None else int(value)

    async def save(self, log_id: int) -> None:
        """Only while this hub is the active writer (`NotTheWriter` otherwise): a writer that
        lost its lock never moves the position back under its successor."""
        await self.hub.write(self.hub.store.set_meta_fenced, self.key, str(log_id))
