"""Webhook subscriptions of the ukrainealarm API (`/api/v3/webhook`) and their delivery.

A key subscribes one URL (POST, which replaces the key's URL if it had one), changes it (PATCH)
or drops it (DELETE): one subscription per key is this surface's limit. After each live change of
an alert, every subscribed URL gets one POST per region it shows on, in the form older bots read:
`{"status": "Activate"|"Deactivate", "regionId", "alarmType", "createdAt"}`.

URLs obey the rules of tryvoha's own webhooks, destinations included (`tryvoha.netguard`: no
private, loopback, link-local, multicast or metadata address unless the operator allowed the
network), and deliveries go through the same guarded sender, which reports failures in its own
words only.

One try per receiver and change, as ukrainealarm does; but no change is skipped across a restart
or a takeover: the sender keeps the log id up to which every change was tried in `meta`
(`tryvoha.store.positions`), and the next sender first tries the changes after it (at least
once: one tried just before a crash may be tried again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter, Request, Response

from tryvoha.alerts.model import Event, EventKind
from tryvoha.alerts.wire import iso
from tryvoha.channels.webhooks import sender
from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.channels.webhooks.urls import BadUrl, check_url
from tryvoha.compat.errors import compat_error
from tryvoha.compat.ids import crosswalk
from tryvoha.compat.levels import UA_ALERT_TYPES
from tryvoha.compat.schemas import WEBHOOK_BODY, Empty, UaWebhook, documented
from tryvoha.hub import Hub
from tryvoha.netguard import Forbidden, Unresolvable
from tryvoha.readmodel import ReadModel
from tryvoha.store.compat_hooks import Hook, HookStore
from tryvoha.store.positions import Position

log = logging.getLogger(__name__)


def payloads(hub: ReadModel, event: Event) -> list[bytes]:
    """Form (a) for a declared or ended alert, once per region it shows on; nothing otherwise."""
    if event.kind is EventKind.UPDATED or event.status.value != "actual" or not event.is_broadcast:
        return []
    cw = crosswalk(hub.catalogue)
    status = "Activate" if event.kind is EventKind.DECLARED else "Deactivate"
    return [
        orjson.dumps(
            {
                "status": status,
                "regionId": cw.ua_id_of[target],
                "alarmType": UA_ALERT_TYPES[event.threat],
                "createdAt": iso(event.occurred_at),
            }
        )
        for target in cw.whole_targets(event.region_id, cw.ua_id_of)
    ]


HEADERS = {"content-type": "application/json", "user-agent": "tryvoha-compat-webhook"}
PARALLEL = 32
"""Receivers posted to at once: a slow one holds up only itself."""
RESUME_MAX = 10_000
"""Changes a starting sender tries that the last one did not (the newest are the ones kept)."""
SAVE_EVERY = 1.0
"""Seconds between two writes of the position while changes are being tried."""


class HookDelivery:
    """Posts each live change to every subscribed URL; one try each, failures are logged."""

    def __init__(self, hub: ReadModel, store: HookStore, config: WebhookConfig) -> None:
        self.hub = hub
        self.store = store
        self.config = config
        self.tasks: dict[asyncio.Task[None], int] = {}
        """The tries under way, with the log id of the change each posts."""
        self.delivered = 0
        self.failed = 0
        self.seen = 0
        """The latest log id handed to the sender."""

    @property
    def tried_upto(self) -> int:
        """Every change up to this log id was tried (the position a successor starts after)."""
        return min(self.tasks.values()) - 1 if self.tasks else self.seen

    def on_event(self, event: Event) -> None:
        self.seen = max(self.seen, event.id)
        if not self.store.any:
            return
        bodies = payloads(self.hub, event)
        if not bodies:
            return
        task = asyncio.get_running_loop().create_task(self._send(bodies))
        self.tasks[task] = event.id
        task.add_done_callback(self.tasks.pop)

    @contextlib.asynccontextmanager
    async def running(self, position: Position) -> AsyncIterator[HookDelivery]:
        """Follow the log from where the last sender stopped (`position`), keeping it up to date;
        on the active writer only."""
        stored = await position.load()
        unsubscribe: Callable[[], None] = self.hub.subscribe(self.on_event)
        head = self.seen = max(self.seen, self.hub.last_event_id)  # later ones come on the bus
        if stored is not None and stored < head and self.store.any:
            found = await self.hub.events_after(max(stored, head - RESUME_MAX), public_only=True)
            missed = [e for e in found if e.id <= head]
            if missed:
                log.warning(
                    "compat webhooks: trying %d events from log id %d on that the last sender "
                    "did not",
                    len(missed),
                    missed[0].id,
                )
            for event in missed:
                self.on_event(event)
        saver = asyncio.create_task(self._save(position), name="compat-webhooks-position")
        try:
            yield self
        finally:
            unsubscribe()
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            if self.tasks:  # tries under way finish (each within the sender's timeout)
                await asyncio.wait(set(self.tasks), timeout=self.config.timeout)
            with contextlib.suppress(Exception):  # the next sender tries a few again
                await position.save(self.tried_upto)

    async def _save(self, position: Position) -> None:
        saved = -1
        while True:
            upto = self.tried_upto
            if upto > saved:
                try:
                    await position.save(upto)
                    saved = upto
                except Exception:
                    log.exception("compat webhooks: could not store the position %d", upto)
            await asyncio.sleep(SAVE_EVERY)

    async def _send(self, bodies: list[bytes]) -> None:
        hooks = await self.hub.read(self.store.all)
        if not hooks:
            return
        config = self.config
        room = asyncio.Semaphore(PARALLEL)

        async def deliver(hook: Hook) -> None:
            async with room:
                for body in bodies:
                    outcome = await sender.post(client, hook.url, body, HEADERS, config)
                    if outcome.ok:
                        self.delivered += 1
                        continue
                    self.failed += 1
                    log.warning("compat webhook of key %d failed: %s", hook.token_id, outcome.error)

        async with sender.new_client(config) as client:
            await asyncio.gather(*(deliver(hook) for hook in hooks))


NO_WRITER = (
    "this node follows the log and keeps no webhook subscriptions: subscribe on the hub's writer"
)


def build_router(store: HookStore) -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["compat: ukrainealarm"])

    async def change(request: Request, must_exist: bool) -> Response:
        token = getattr(request.state, "compat_token", None)
        if token is None:
            return compat_error(401, "key_required", "webhooks need an API key in Authorization")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return compat_error(400, "invalid_json", 'the body must be JSON {"webHookUrl": …}')
        url = body.get("webHookUrl") if isinstance(body, dict) else None
        if not isinstance(url, str):
            return compat_error(400, "invalid_url", "webHookUrl must be an http(s) URL")
        try:
            url = await check_url(url, request.app.state.settings.webhooks.policy)
        except BadUrl as exc:
            return compat_error(400, "invalid_url", f"webHookUrl: {exc}")
        except Forbidden as exc:
            return compat_error(422, "destination_not_allowed", f"webHookUrl: {exc}")
        except Unresolvable as exc:
            return compat_error(422, "host_not_found", f"webHookUrl: {exc}")
        hub: Hub | None = request.app.state.hub
        if hub is None:
            return compat_error(503, "not_the_writer", NO_WRITER)
        done = await hub.write(store.put, token.id, url, must_exist)
        if not done:
            return compat_error(404, "no_subscription", "this key has no webhook to change")
        return Response(orjson.dumps({"webHookUrl": url}), media_type="application/json")

    @router.post(
        "/webhook",
        summary="Subscribe a URL to alert changes",
        openapi_extra=WEBHOOK_BODY,
        **documented(UaWebhook, 400, 401, 403, 413, 422, 429, get=False),
    )
    async def subscribe(request: Request) -> Response:
        return await change(request, must_exist=False)

    @router.patch(
        "/webhook",
        summary="Change the subscribed URL",
        openapi_extra=WEBHOOK_BODY,
        **documented(UaWebhook, 400, 401, 403, 404, 413, 422, 429, get=False),
    )
    async def modify(request: Request) -> Response:
        return await change(request, must_exist=True)

    @router.delete(
        "/webhook",
        summary="Unsubscribe",
        **documented(Empty, 401, 403, 404, 413, 429, get=False),
    )
    async def unsubscribe(request: Request) -> Response:
        token = getattr(request.state, "compat_token", None)
        if token is None:
            return compat_error(401, "key_required", "webhooks need an API key in Authorization")
        hub: Hub | None = request.app.state.hub
        if hub is None:
            return compat_error(503, "not_the_writer", NO_WRITER)
        if not await hub.write(store.remove, token.id):
            return compat_error(404, "no_subscription", "this key has no webhook")
        return Response(b"{}", media_type="application/json")

    return router
