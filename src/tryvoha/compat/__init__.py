"""Compatibility with the alerts.in.ua and ukrainealarm APIs, as views of the same log.

`install(app, hub)` adds both surfaces to the hub's FastAPI app: the routers, the webhook
subscription endpoints, the front gate (keys, rate limits, pre-rendered hot answers) and the
webhook delivery. See docs/compat.md.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from tryvoha.channels.webhooks.config import config_of
from tryvoha.compat import alerts_in_ua, ukrainealarm, webhooks
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.config import CompatConfig
from tryvoha.compat.gate import Compat, CompatGate, answer_now
from tryvoha.hub import Hub


def install(app: FastAPI, hub: Hub, config: CompatConfig | None = None) -> Compat:
    """Add both surfaces to `app`; call after the app's own middleware so the gate runs first."""
    config = config or CompatConfig()
    compat = Compat(hub=hub, config=config, clock=ModifiedClock(hub))
    hooks = webhooks.HookStore(hub.store)
    app.include_router(alerts_in_ua.build_router(compat.clock, config.prefix))
    app.include_router(ukrainealarm.build_router())
    app.include_router(webhooks.build_router(hooks))
    delivery = webhooks.HookDelivery(hub, hooks, partial(config_of, app))
    if config.webhook_delivery:
        hub.bus.subscribe(delivery.on_event)
    app.add_middleware(CompatGate, compat=compat)
    app.state.compat = compat
    app.state.direct_answers.append(partial(answer_now, compat))
    app.state.compat_webhooks = delivery
    return compat


__all__ = ["Compat", "CompatConfig", "install"]
