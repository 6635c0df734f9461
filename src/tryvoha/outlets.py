"""The ways out of one hub process, started and stopped as one exit stack: the app's lifespan.

What runs depends on what the process is:
- every process: the streams' broadcaster (built with the app, so stream requests can be taken
  over at once; stopped here), and the stream workers when `--workers` asks for more processes;
- the writer only (one sender per channel for the whole deployment): the relay of the log to NATS
  JetStream when `--nats` is given (first, so edges hear of a commit as early as possible), the
  webhook dispatcher and its durable outbox, MQTT when a broker is configured, the ukrainealarm
  webhook delivery. A standby starts them when it takes over, and a writer that loses its lock
  stops them at once (`tryvoha.standby.WriterRole`); each continues from its durable position.

Each is started in that order and stopped in the reverse one; nothing else starts a way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.streams.workers import start_followers
from tryvoha.channels.webhooks import WebhookDispatcher
from tryvoha.cluster.relay import relaying
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.standby import WriterRole
from tryvoha.store.positions import COMPAT_HOOKS_POSITION_KEY, MQTT_POSITION_KEY, StoredPosition
from tryvoha.store.webhooks import WebhookStore

log = logging.getLogger(__name__)


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
            senders = contextlib.AsyncExitStack()
            stack.push_async_callback(senders.aclose)

            async def start_senders() -> None:
                await _start_senders(app, writer, senders)

            role = WriterRole(
                writer, getattr(state, "standby_lock", None), getattr(state, "say", None)
            )
            if writer.is_writer:
                await start_senders()  # before serving: a standby starts them on takeover
            task = asyncio.create_task(role.run(start_senders, senders.aclose), name="writer")
            stack.push_async_callback(_cancel, task)
        yield


async def _start_senders(app: FastAPI, writer: Hub, stack: contextlib.AsyncExitStack) -> None:
    """The ways out only the writer runs (one sender per channel cluster-wide), each continuing
    from its durable position: the webhook outbox, MQTT's last published log id."""
    state = app.state
    settings: Settings = state.settings
    model = state.model
    if settings.nats:  # continues from the position the last writer's relay saved
        state.relay = await stack.enter_async_context(relaying(writer, settings.nats))
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
            position=StoredPosition(writer, MQTT_POSITION_KEY),
            receipts=state.receipts,
        )
        state.mqtt = publisher
        await stack.enter_async_context(publisher.running())
    if settings.compat.webhook_delivery:
        position = StoredPosition(writer, COMPAT_HOOKS_POSITION_KEY)
        await stack.enter_async_context(state.compat_webhooks.running(position))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # it ended on its own, and shutdown goes on
        log.exception("the writer role ended with an error")
