"""Preview: what a declaration would do, before anything is written.

`POST /api/v1/operator/preview` takes exactly the body of `POST /api/v1/alerts` and answers with
the regions resolved, the hromadas they cover, the area as simplified GeoJSON, the events and the
exact payload each channel would carry, and whether the second-person rule applies and why. It
runs the very rules of a declaration (`alerts.commands.decide` and the pre-commit rendering), so
it refuses what the declaration would refuse, with the same 4xx answer; it writes nothing.

Nothing in a preview is signed: signing a message that was never sent would hand out a genuine
signature for an event that never happened (and the predicted log id goes to the next real event).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any

import orjson
import shapely
from fastapi import APIRouter, Depends, Request
from lxml import etree
from shapely.geometry import mapping

from tryvoha.alerts.approval import oblasts_touched
from tryvoha.alerts.commands import Actor, Declare, DeclareMany, decide
from tryvoha.alerts.model import Event, EventDraft, EventKind, assign
from tryvoha.alerts.wire import event_doc
from tryvoha.api.auth import operator
from tryvoha.api.errors import ApiError
from tryvoha.api.operator import DeclareBody, writer_of
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Preview, documented
from tryvoha.channels.cap.message import CapRenderer
from tryvoha.channels.mqtt import MqttPublisher
from tryvoha.channels.streams import frames
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level

router = APIRouter(prefix="/api/v1/operator", tags=["operator"])
SIMPLIFY = 0.01
"""Degrees (about 1 km): enough to draw the area on a map of the country, small to send."""
APPROVER = "token:(the approving operator)"
UNSIGNED_NOTE = "unsigned preview: the hub signs the event once, at commit"


def hromadas_in(catalogue: Catalogue, region_id: str) -> int:
    region = catalogue.get(region_id)
    if region.level is Level.HROMADA:
        return 1
    return sum(1 for r in catalogue.descendants(region_id) if r.level is Level.HROMADA)


def area_geojson(catalogue: Catalogue, region_ids: list[str]) -> dict[str, Any]:
    """The union of the regions' boundaries, simplified for drawing (blocking: shapely)."""
    shapes = [catalogue.boundary(r) for r in region_ids]
    union = shapely.union_all(shapes) if len(shapes) > 1 else shapes[0]
    simple = union.simplify(SIMPLIFY, preserve_topology=True)
    return orjson.loads(orjson.dumps(mapping(shapely.set_precision(simple, 0.0001))))


def region_entry(catalogue: Catalogue, region_id: str) -> dict[str, Any]:
    region = catalogue.get(region_id)
    parents = [a for a in catalogue.ancestors(region_id) if a.level is not Level.COUNTRY]
    return {
        "id": region.id,
        "level": region.level.value,
        "name_uk": region.name_uk,
        "name_en": region.name_en,
        "hromadas": hromadas_in(catalogue, region_id),
        "parents_uk": [a.name_uk for a in parents],
        "parents_en": [a.name_en for a in parents],
    }


def going_out(drafts: tuple[EventDraft, ...]) -> tuple[EventDraft, ...]:
    """The declarations that reach the channels: a proposal's, as its approval would send them
    (the approver is not known yet)."""
    if drafts[0].kind is not EventKind.PROPOSED:
        return drafts
    proposer = drafts[0].originator
    return tuple(
        replace(
            d, kind=EventKind.DECLARED, originator=APPROVER, proposed_by=proposer, deadline=None
        )
        for d in drafts
    )


def channel_payloads(
    hub: Hub, cap: CapRenderer | None, prefix: str, event: Event
) -> dict[str, Any]:
    """Exactly what each channel would carry for `event` (before the signature is added)."""
    answer = hub.renderer.render(event, None)  # every surface renders it, as before a commit
    doc = event_doc(event)
    data = orjson.dumps(doc)
    out: dict[str, Any] = {
        "stream": {
            "media_type": "text/event-stream",
            "body": frames.sse("alert", data, event.id).decode(),
            "note": f'SSE; WebSocket carries the same JSON as {{"type": "alert", …}}; '
            f"{UNSIGNED_NOTE} (a `sig` object is added)",
        },
        "webhooks": {
            "media_type": "application/json",
            "body": answer.decode(),
            "note": "the body every matching subscription receives, signed with HMAC and "
            "Ed25519 headers at delivery",
        },
        "mqtt": {
            "media_type": "application/json",
            "topic": MqttPublisher(hub, prefix=prefix).event_topic(event),
            "body": data.decode(),
            "note": f"QoS 1, not retained; {UNSIGNED_NOTE} (a `sig` object is added)",
        },
    }
    if cap is not None:
        root = cap.build(event, [])
        out["cap"] = {
            "media_type": "application/cap+xml",
            "body": etree.tostring(root, encoding="unicode", pretty_print=True),
            "note": "CAP 1.2; unsigned preview: the hub adds an XML signature when it serves it",
        }
    return out


@router.post(
    "/preview",
    summary="Preview a declaration: area, channel payloads, second-person rule; writes nothing",
    **documented(Preview, 401, 403, 404, 409, 413, 422, 503),
)
async def preview(
    request: Request, body: DeclareBody, actor: Annotated[Actor, Depends(operator)]
) -> JSONResponse:
    """Takes exactly a declaration's body (`POST /api/v1/alerts`) and answers what it would do:
    the regions resolved and the hromadas they cover, the area (GeoJSON, simplified to about
    1 km), the events with predicted log ids, the exact stream frame, webhook body, MQTT topic
    and message, and CAP message of each (unsigned), and whether the second-person rule
    applies and why. Refuses what the declaration would refuse, with the same answer."""
    if (body.region_id is None) == (body.region_ids is None):
        raise ApiError(
            422, "region_missing", "name the region: region_id, or region_ids (not both)"
        )
    hub = writer_of(request)
    details = tuple(body.details)
    command: Declare | DeclareMany
    if body.region_ids is not None:
        command = DeclareMany(
            tuple(body.region_ids), body.threat, body.status, details, body.notes, body.occurred_at
        )
    else:
        assert body.region_id is not None
        command = Declare(
            body.region_id, body.threat, body.status, details, body.notes, body.occurred_at
        )
    now = hub.clock()
    drafts = decide(hub.state, hub.catalogue, actor, command, now, hub.policy)
    regions = [d.region_id for d in drafts]
    rule = hub.policy.why(hub.catalogue, regions, body.threat, body.status)
    events = assign(going_out(drafts), hub.last_event_id + 1, now)
    prefix = request.app.state.settings.mqtt_prefix
    cap_service = getattr(request.app.state, "cap", None)
    cap = None if cap_service is None else cap_service.renderer

    def build() -> dict[str, Any]:
        return {
            "regions": [region_entry(hub.catalogue, r) for r in regions],
            "hromadas": sum(hromadas_in(hub.catalogue, r) for r in regions),
            "oblasts": oblasts_touched(hub.catalogue, regions),
            "area": area_geojson(hub.catalogue, regions),
            "channels": [channel_payloads(hub, cap, prefix, e) for e in events],
        }

    try:
        built = await asyncio.get_running_loop().run_in_executor(None, build)
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(
            422, "unrenderable_event", f"the event cannot be rendered for {exc}"
        ) from exc
    doc = {
        "regions": built["regions"],
        "hromadas": built["hromadas"],
        "oblasts": built["oblasts"],
        "area": built["area"],
        "second_person": rule is not None,
        "rule": rule,
        "expires_in_seconds": None if rule is None else int(hub.policy.ttl.total_seconds()),
        "events": [event_doc(e) for e in events],
        "channels": built["channels"],
    }
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})
