"""The broadcaster of a hub: one per hub (and so one per process), created on first use."""

from __future__ import annotations

import weakref

from tryvoha.channels.streams.broadcaster import Broadcaster, StreamConfig
from tryvoha.hub import Hub

_broadcasters: weakref.WeakKeyDictionary[Hub, Broadcaster] = weakref.WeakKeyDictionary()
_configs: weakref.WeakKeyDictionary[Hub, StreamConfig] = weakref.WeakKeyDictionary()
_routers: weakref.WeakKeyDictionary[Hub, object] = weakref.WeakKeyDictionary()


def configure(hub: Hub, config: StreamConfig) -> None:
    """Set the stream tunables of a hub before its first subscriber (tests, `serve`)."""
    _configs[hub] = config


def broadcaster_for(hub: Hub) -> Broadcaster:
    """The hub's broadcaster, subscribed to its bus from the moment it is created."""
    broadcaster = _broadcasters.get(hub)
    if broadcaster is None:
        broadcaster = Broadcaster(hub, _configs.get(hub))
        hub.bus.subscribe(broadcaster.publish)
        _broadcasters[hub] = broadcaster
    return broadcaster


def set_router(hub: Hub, router: object) -> None:
    """Install what places new subscribers across worker processes (see `workers`)."""
    _routers[hub] = router


def router_for(hub: Hub) -> object | None:
    return _routers.get(hub)
