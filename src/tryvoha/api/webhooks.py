"""Operator API for webhook subscriptions: create (the signing secret is shown once), list,
inspect failures, retry, delete. A token sees and manages its own subscriptions; a token for every
region (the administrator's) sees all of them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import Actor
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.alerts.wire import iso
from tryvoha.api.auth import operator
from tryvoha.api.errors import ApiError
from tryvoha.api.operator import writer_of
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import (
    Deleted,
    Deliveries,
    NewWebhook,
    Requeued,
    WebhookDoc,
    WebhookList,
    documented,
)
from tryvoha.channels.webhooks import (
    BadUrl,
    LimitReached,
    NotRunning,
    Subscription,
    SubscriptionHealth,
    WebhookDispatcher,
    check_url,
)
from tryvoha.netguard import Forbidden, Unresolvable
from tryvoha.readmodel import ReadModel
from tryvoha.store.webhooks import Delivery

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

SubscriptionId = Annotated[
    int,
    Path(ge=1, le=ranges.MAX_ID, description=f"A webhook subscription's id, 1 to {ranges.MAX_ID}."),
]
OperatorActor = Annotated[Actor, Depends(operator)]


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000,
        description="http(s) URL that receives POSTed deliveries. Its host must be, and resolve "
        "to, public addresses only (or ones in TRYVOHA_WEBHOOK_ALLOW_NETWORKS).",
    )
    regions: list[str] | None = Field(
        default=None,
        max_length=200,
        description="Region ids; each covers its sub-regions. Defaults to the token's regions.",
    )
    threats: list[Threat] = Field(default_factory=list, description="Empty: every threat.")
    statuses: list[AlertStatus] = Field(
        default_factory=lambda: [AlertStatus.ACTUAL],
        min_length=1,
        description="Exercise and test alerts only when listed.",
    )
    description: str | None = Field(default=None, max_length=500)


def _dispatcher(request: Request) -> WebhookDispatcher:
    hub = request.app.state.hub
    if hub is not None and not hub.is_writer:
        writer_of(request)  # a standby: 503 not_the_writer with Retry-After, as for commands
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is None or not dispatcher.running:
        raise ApiError(503, "webhooks_unavailable", "webhook delivery is not running on this hub")
    return dispatcher


def _may_see(actor: Actor, sub: Subscription) -> bool:
    return actor.scopes is None or sub.owner == actor.originator


def _check_regions(hub: ReadModel, actor: Actor, regions: list[str] | None) -> list[str]:
    catalogue = hub.catalogue
    if regions is None:
        return list(actor.scopes) if actor.scopes is not None else [catalogue.country.id]
    if not regions:
        raise ApiError(422, "invalid_request", "regions: give at least one region id or omit it")
    for region_id in regions:
        if region_id not in catalogue:
            raise ApiError(422, "unknown_region", f"regions: {region_id!r} is not a known region")
        if actor.scopes is not None and not any(
            catalogue.is_within(region_id, scope) for scope in actor.scopes
        ):
            raise ApiError(
                403,
                "region_not_allowed",
                f"regions: {region_id!r} is outside the regions this token may use",
            )
    return list(dict.fromkeys(regions))


def delivery_doc(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "last_attempt_at": iso(d.last_attempt_at),
        "next_attempt_at": iso(d.next_attempt_at) if d.state == "pending" else None,
        "expires_at": iso(d.expires_at),
        "delivered_at": iso(d.delivered_at),
        "created_at": iso(d.created_at),
    }


def subscription_doc(sub: Subscription, health: SubscriptionHealth | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "regions": list(sub.regions),
        "threats": [t.value for t in sub.threats],
        "statuses": [s.value for s in sub.statuses],
        "description": sub.description,
        "owner": sub.owner,
        "after_event_id": sub.after_event_id,
        "created_at": iso(sub.created_at),
    }
    if health is not None:
        head = health.head
        doc["deliveries"] = {
            "pending": health.pending,
            "delivered": health.delivered,
            "expired": health.expired,
            "last_delivered_at": iso(health.last_delivered_at),
            "failing": head is not None and head.attempts > 0,
            "head": None if head is None else delivery_doc(head),
        }
    return doc


async def _visible(request: Request, actor: Actor, subscription_id: int) -> Subscription:
    dispatcher = _dispatcher(request)
    sub = await dispatcher.run_db(dispatcher.store.get, subscription_id)
    if sub is None or not _may_see(actor, sub):
        raise ApiError(404, "webhook_not_found", f"no webhook subscription {subscription_id}")
    return sub


async def checked_url(url: str, dispatcher: WebhookDispatcher) -> str:
    """The URL when it is well formed and every address its host has now may be reached."""
    try:
        return await check_url(url, dispatcher.config.policy)
    except BadUrl as exc:
        raise ApiError(422, "invalid_url", str(exc)) from exc
    except Forbidden as exc:
        raise ApiError(422, "destination_not_allowed", f"url: {exc}") from exc
    except Unresolvable as exc:
        raise ApiError(422, "host_not_found", f"url: {exc}") from exc


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to live events",
    **documented(NewWebhook, 401, 403, 409, 413, 422, 503, status=201, created=True),
)
async def create(request: Request, body: CreateBody, actor: OperatorActor) -> JSONResponse:
    """Deliveries start with the first event after `after_event_id`. The answer holds the signing
    `secret` once; it is never shown again. A URL inside a private, loopback, link-local,
    multicast or metadata network is refused (`422 destination_not_allowed`), as is a token's
    subscription past its limit (`409 too_many_webhooks`)."""
    hub: ReadModel = request.app.state.model
    regions = _check_regions(hub, actor, body.regions)
    dispatcher = _dispatcher(request)
    url = await checked_url(body.url, dispatcher)
    try:
        sub = await dispatcher.create(
            actor.originator,
            url,
            regions,
            list(dict.fromkeys(body.threats)),
            list(dict.fromkeys(body.statuses)),
            body.description,
            limit=dispatcher.config.max_per_token,
        )
    except NotRunning as exc:
        raise ApiError(503, "webhooks_unavailable", str(exc)) from exc
    except LimitReached as exc:
        raise ApiError(409, "too_many_webhooks", str(exc)) from exc
    doc = subscription_doc(sub, None)
    doc["secret"] = sub.secret
    return JSONResponse(doc, status_code=201, headers={"Location": f"{router.prefix}/{sub.id}"})


@router.get(
    "",
    summary="List webhook subscriptions with their delivery health",
    **documented(WebhookList, 401, 503, validators=True),
)
async def list_webhooks(request: Request, actor: OperatorActor) -> dict[str, Any]:
    dispatcher = _dispatcher(request)
    owner = None if actor.scopes is None else actor.originator
    subs = await dispatcher.run_db(dispatcher.store.all, owner)
    health = await dispatcher.run_db(dispatcher.store.health, [s.id for s in subs])
    return {"webhooks": [subscription_doc(s, health[s.id]) for s in subs]}


@router.get(
    "/{subscription_id}",
    summary="One subscription with its delivery health",
    **documented(WebhookDoc, 401, 404, 422, 503, validators=True),
)
async def get_webhook(
    request: Request, subscription_id: SubscriptionId, actor: OperatorActor
) -> dict:
    sub = await _visible(request, actor, subscription_id)
    dispatcher = _dispatcher(request)
    health = await dispatcher.run_db(dispatcher.store.health, [sub.id])
    return subscription_doc(sub, health[sub.id])


@router.get(
    "/{subscription_id}/deliveries",
    summary="Recent deliveries, newest first",
    **documented(Deliveries, 401, 404, 422, 503, validators=True),
)
async def deliveries(
    request: Request,
    subscription_id: SubscriptionId,
    actor: OperatorActor,
    state: Annotated[Literal["pending", "delivered", "expired"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    sub = await _visible(request, actor, subscription_id)
    dispatcher = _dispatcher(request)
    rows = await dispatcher.run_db(dispatcher.store.deliveries, sub.id, state, limit)
    return {"subscription_id": sub.id, "deliveries": [delivery_doc(d) for d in rows]}


@router.post(
    "/{subscription_id}/retry",
    summary="Retry now, including expired deliveries",
    **documented(Requeued, 401, 404, 413, 422, 503),
)
async def retry(
    request: Request, subscription_id: SubscriptionId, actor: OperatorActor
) -> dict[str, Any]:
    sub = await _visible(request, actor, subscription_id)
    count = await _dispatcher(request).retry_now(sub.id)
    return {"subscription_id": sub.id, "requeued": count}


@router.delete(
    "/{subscription_id}",
    summary="Delete a subscription",
    **documented(Deleted, 401, 404, 413, 422, 503),
)
async def delete(
    request: Request, subscription_id: SubscriptionId, actor: OperatorActor
) -> dict[str, Any]:
    """Pending deliveries are dropped with it; the answer says how many."""
    sub = await _visible(request, actor, subscription_id)
    dropped = await _dispatcher(request).delete(sub.id)
    return {"id": sub.id, "deleted": True, "dropped_pending": dropped}
