"""The writer's side of the cluster: its log relayed to JetStream while it runs.

Only the writer relays (the relay reads the committed log and keeps its position in the log's
database, so a standby that takes over continues where the last writer's relay stopped). NATS
down never blocks a commit: the relay only reads the store and catches up when NATS is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tryvoha.bus.jetstream import DEFAULT_STREAM, LogRelay
from tryvoha.config import nats_servers
from tryvoha.hub import Hub

POSITION_KEY = "jetstream.position"
"""The meta row holding the last log id the stream acknowledged (per stream: `:<name>`)."""


def position_key(stream: str) -> str:
    return f"{POSITION_KEY}:{stream}"


def relay_for(hub: Hub, servers: str, stream: str = DEFAULT_STREAM) -> LogRelay:
    """A relay of `hub`'s log to `servers`, its durable position in the hub's own store."""
    store = hub.store
    key = position_key(stream)
    return LogRelay(
        nats_servers(servers),
        events_after=lambda after, limit: store.events_after(after, limit),
        load_position=lambda: int(store.get_meta(key) or 0),
        save_position=lambda position: store.set_meta(key, str(position)),
        stream=stream,
        name="tryvoha-writer",
    )


@contextlib.asynccontextmanager
async def relaying(hub: Hub, servers: str) -> AsyncIterator[LogRelay]:
    """Relay every commit (imported history too) until the block ends; the position is saved."""
    relay = relay_for(hub, servers)
    unsubscribe = hub.subscribe(relay.wake, whole_log=True)
    task = asyncio.create_task(relay.run(), name="tryvoha-relay")
    try:
        yield relay
    finally:
        unsubscribe()
        await relay.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
