"""Background channels that run for as long as the HTTP app serves: the webhook dispatcher always,
MQTT when a broker is configured. `services` is the list the app's lifespan enters in order."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.webhooks import WebhookDispatcher, config_of

Service = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def webhooks(app: FastAPI) -> AsyncIterator[None]:
    dispatcher = WebhookDispatcher(app.state.hub, config_of(app))
    app.state.webhooks = dispatcher
    async with dispatcher.running_context():
        yield


@contextlib.asynccontextmanager
async def mqtt(app: FastAPI) -> AsyncIterator[None]:
    url = getattr(app.state.settings, "mqtt", None)
    if not url:
        yield
        return
    prefix = getattr(app.state, "mqtt_prefix", "tryvoha")
    publisher = MqttPublisher(app.state.hub, url, prefix=prefix)
    app.state.mqtt = publisher
    async with publisher.running():
        yield


services: list[Service] = [webhooks, mqtt]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for service in services:
            await stack.enter_async_context(service(app))
        yield
