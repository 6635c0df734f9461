"""The ways out of one hub process, started and stopped as one exit stack: the app's lifespan.

What runs depends on what the process is:
- every process: the streams' broadcaster (built with the app, so stream requests can be taken
  over at once; stopped here), and the stream workers when `--workers` asks for more processes;
- the writer only (one sender per channel for the whole deployment): the webhook dispatcher and
  its durable outbox, MQTT when a broker is configured, the ukrainealarm webhook delivery.

Each is started in that order and stopped in the reverse one; nothing else starts a way out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.streams.workers import start_followers
from tryvoha.channels.webhooks import WebhookDispatcher
from tryvoha.config import Settings
from tryvoha.store.webhooks import WebhookStore


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: Settings = state.settings
    model = state.model
    writer = state.hub
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(state.broadcaster.stop)
        if settings.workers > 1:
            followers = start_followers(model, state.broadcaster, settings)
            stack.callback(followers.stop)
        if writer is not None:
            dispatcher = WebhookDispatcher(
                model, WebhookStore(writer.store), settings.webhooks, state.signing
            )
            state.webhooks = dispatcher
            await stack.enter_async_context(dispatcher.running_context())
            if settings.mqtt:
                publisher = MqttPublisher(
                    model,
                    settings.mqtt,
                    prefix=settings.mqtt_prefix,
                    signing=state.signing,
                    receipts=state.receipts,
                )
                state.mqtt = publisher
                await stack.enter_async_context(publisher.running())
            if settings.compat.webhook_delivery:
                stack.callback(model.subscribe(state.compat_webhooks.on_event))
        yield
