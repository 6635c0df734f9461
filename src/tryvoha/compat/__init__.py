"""Compatibility with the alerts.in.ua and ukrainealarm APIs, as views of the same log.

`install(...)` adds both surfaces to the hub's FastAPI app: the routers, the webhook subscription
endpoints, the front gate (keys, rate limits, pre-rendered hot answers, also registered as the
edge's short cut) and the webhook delivery, which `tryvoha.outlets` starts. See docs/compat.md.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.compat import alerts_in_ua, ukrainealarm, webhooks
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.config import CompatConfig
from tryvoha.compat.gate import UA_PREFIX, Compat, CompatGate, answer_now
from tryvoha.readmodel import ReadModel
from tryvoha.server import Edge
from tryvoha.server.bodies import Bodies
from tryvoha.server.conditional import Validators


def install(
    app: FastAPI,
    hub: ReadModel,
    edge: Edge,
    config: CompatConfig,
    webhook_config: WebhookConfig,
    bodies: Bodies | None = None,
    fresh: Validators | None = None,
) -> Compat:
    """Add both surfaces to `app`; call after the app's own middleware so the gate runs first.

    `bodies` and `fresh` are the app's body cache and its own validator policy, shared so the
    ukrainealarm views carry the same validators as tryvoha's."""
    writer = app.state.hub  # None on a node that only follows the log
    compat = Compat(hub, config, ModifiedClock(hub, writer), bodies=bodies, fresh=fresh)
    hooks = webhooks.HookStore(hub.store)
    app.include_router(alerts_in_ua.build_router(compat.clock, config.prefix))
    app.include_router(ukrainealarm.build_router())
    app.include_router(webhooks.build_router(hooks))
    delivery = webhooks.HookDelivery(hub, hooks, webhook_config)  # started with the ways out
    app.add_middleware(CompatGate, compat=compat)
    short_cut = partial(answer_now, compat)
    for prefix in (compat.aiu_v1, compat.aiu_v2):
        edge.validate(compat.exact, under=prefix)
        edge.poll_under(prefix, short_cut)
    edge.poll_under(UA_PREFIX, short_cut)
    app.state.compat = compat
    app.state.compat_webhooks = delivery
    return compat


__all__ = ["Compat", "CompatConfig", "install"]
