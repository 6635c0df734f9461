"""Delivery receipts: `GET /api/v1/events/{id}/delivery`, what each channel did with one event.

Streams and MQTT report their hand-overs to `DeliveryReceipts` (kept for the newest events, see
`tryvoha.channels.receipts`); webhooks are read from their durable outbox, so their receipt holds
for every event the outbox still has; CAP renders a message for every public event on request.
Operators only: a receipt says how many receivers a hub has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import Actor
from tryvoha.alerts.model import Event
from tryvoha.alerts.wire import iso
from tryvoha.api.auth import operator
from tryvoha.api.errors import ApiError
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Delivery, documented
from tryvoha.channels.receipts import ChannelReceipt, DeliveryReceipts
from tryvoha.readmodel import ReadModel
from tryvoha.store.webhooks import DELIVERED, EXPIRED, PENDING, WebhookStore

router = APIRouter(prefix="/api/v1", tags=["operator"])
EventId = Annotated[
    int, Path(ge=1, le=ranges.MAX_ID, description=f"An event's log id, 1 to {ranges.MAX_ID}.")
]
STREAM_CHANNELS = ("sse", "ws")


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000, 1)


def _when(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _handed(
    receipt: ChannelReceipt | None, recorded: float, reached: bool = True
) -> dict[str, Any]:
    doc: dict[str, Any] = {"handed_at": None, "after_ms": None}
    if receipt is not None:
        doc = {"handed_at": _when(receipt.first_at), "after_ms": _ms(receipt.first_at - recorded)}
    if reached:
        doc["reached"] = 0 if receipt is None else receipt.reached
    return doc


def streams_receipt(receipts: DeliveryReceipts, event: Event) -> dict[str, Any]:
    """Live stream subscribers (SSE and WebSocket) the event was written to, and when."""
    recorded = event.recorded_at.timestamp()
    kept = receipts.of(event.id)
    channels = {} if kept is None else kept.channels
    parts = {name: _handed(channels.get(name), recorded) for name in STREAM_CHANNELS}
    firsts = [channels[n].first_at for n in STREAM_CHANNELS if n in channels]
    lasts = [channels[n].last_at for n in STREAM_CHANNELS if n in channels]
    oldest = receipts.oldest
    return {
        "reached": sum(p["reached"] for p in parts.values()),
        "handed_at": _when(min(firsts)) if firsts else None,
        "after_ms": _ms(min(firsts) - recorded) if firsts else None,
        "last_after_ms": _ms(max(lasts) - recorded) if lasts else None,
        "kept": kept is not None or oldest is None or event.id >= oldest,
        **parts,
    }


def webhooks_receipt(deliveries: list[Any], recorded: float) -> dict[str, Any]:
    """Acknowledged and failed deliveries from the outbox, with the last error in the hub's own
    words (never the receiver's body, see tryvoha.channels.webhooks.sender)."""
    acknowledged = [d for d in deliveries if d.state == DELIVERED]
    retrying = [d for d in deliveries if d.state == PENDING and d.attempts > 0]
    failed = sorted(
        (d for d in deliveries if d.last_error and d.state != DELIVERED),
        key=lambda d: d.last_attempt_at or d.created_at,
    )
    done = [d.delivered_at.timestamp() for d in acknowledged if d.delivered_at is not None]
    return {
        "subscriptions": len(deliveries),
        "acknowledged": len(acknowledged),
        "waiting": sum(1 for d in deliveries if d.state == PENDING and d.attempts == 0),
        "retrying": len(retrying),
        "expired": sum(1 for d in deliveries if d.state == EXPIRED),
        "last_error": failed[-1].last_error if failed else None,
        "last_acknowledged_after_ms": _ms(max(done) - recorded) if done else None,
    }


@router.get(
    "/events/{event_id}/delivery",
    summary="What each channel did with one event: the delivery receipt",
    **documented(Delivery, 401, 403, 404, 422),
)
async def delivery(
    request: Request, event_id: EventId, actor: Annotated[Actor, Depends(operator)]
) -> JSONResponse:
    """Per channel: when the event was handed to the network and how many live stream
    subscribers it reached (kept for the newest `TRYVOHA_RECEIPTS_KEEP` events; `kept: false`
    for older ones), webhooks acknowledged and failing with the last error (from the durable
    outbox), MQTT handed to the broker, and whether the CAP message is available."""
    model: ReadModel = request.app.state.model
    if event_id > model.last_event_id:
        raise ApiError(404, "unknown_event", f"the log has no event {event_id} (yet)")
    found = await model.read(model.store.events_after, event_id - 1, 1)
    if not found or found[0].id != event_id:
        raise ApiError(404, "unknown_event", f"the log has no event {event_id}")
    event = found[0]
    doc: dict[str, Any] = {
        "event_id": event.id,
        "kind": event.kind.value,
        "region_id": event.region_id,
        "status": event.status.value,
        "recorded_at": iso(event.recorded_at),
        "public": event.is_public,
        "channels": None,
    }
    if event.is_public:
        receipts: DeliveryReceipts = request.app.state.receipts
        recorded = event.recorded_at.timestamp()
        deliveries = await model.read(WebhookStore(model.store).for_event, event.id)
        kept = receipts.of(event.id)
        mqtt_receipt = None if kept is None else kept.channels.get("mqtt")
        mqtt_on = request.app.state.settings.mqtt is not None
        doc["channels"] = {
            "streams": streams_receipt(receipts, event),
            "webhooks": webhooks_receipt(deliveries, recorded),
            "mqtt": {"configured": mqtt_on, **_handed(mqtt_receipt, recorded, reached=False)},
            "cap": {
                "available": getattr(request.app.state, "cap", None) is not None,
                "url": f"/api/v1/cap/{event.id}.xml",
            },
        }
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})
