"""Public read-only API (`/api/v1`): regions, status, active alerts, history and the raw log."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tryvoha.alerts import ranges
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.alerts.wire import alert_doc, event_doc
from tryvoha.api.errors import ApiError
from tryvoha.api.params import (
    AlertIdPath,
    Cursor,
    LogAfter,
    RegionIdPath,
    RegionIdQuery,
    checked_time,
    time_query,
)
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import (
    ActiveAlerts,
    AlertDoc,
    AlertPage,
    CompactStatus,
    DetailedStatus,
    LogPage,
    RegionDetail,
    RegionList,
    documented,
)
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Level, UnknownRegion
from tryvoha.server.bodies import Bodies, Rendered
from tryvoha.store import AlertQuery
from tryvoha.views import (
    active_alerts_doc,
    compact_status,
    detailed_status,
    matching_alerts,
    region_doc,
    region_statuses,
)

router = APIRouter(prefix="/api/v1", tags=["public"])

StatusFilter = Annotated[
    list[AlertStatus] | None,
    Query(description="actual (default), exercise, test; repeat for several"),
]


def _hub(request: Request) -> ReadModel:
    return request.app.state.model


def _known_region(hub: ReadModel, region_id: str | None) -> str | None:
    if region_id is not None and region_id not in hub.catalogue:
        raise ApiError(404, "unknown_region", f"no region with id {region_id!r}")
    return region_id


@router.get(
    "/regions",
    summary="The region tree, flat, in tree order",
    **documented(RegionList, 401, 404, 422, validators=True),
)
async def regions(
    request: Request, level: Level | None = None, parent_id: RegionIdQuery = None
) -> Response:
    hub = _hub(request)
    _known_region(hub, parent_id)  # so only the catalogue's ids become keys

    def listed() -> dict[str, Any]:
        return {
            "regions": [
                region_doc(r)
                for r in hub.catalogue
                if (level is None or r.level is level)
                and (parent_id is None or r.parent_id == parent_id)
            ]
        }

    return _once_per_log_id(request, (("regions", level, parent_id), listed))


@router.get(
    "/regions/{region_id}",
    summary="One region, its children and its status",
    **documented(RegionDetail, 401, 404, 422, validators=True),
)
async def region(request: Request, region_id: RegionIdPath) -> JSONResponse:
    hub = _hub(request)
    try:
        found = hub.catalogue.get(region_id)
    except UnknownRegion as exc:
        raise ApiError(404, "unknown_region", str(exc)) from exc
    doc = region_doc(found)
    doc["children"] = [c.id for c in hub.catalogue.children(region_id)]
    doc["status"] = region_statuses(hub, region_id)
    doc["log_id"] = hub.last_event_id
    return JSONResponse(doc)


@router.get(
    "/status/compact",
    summary="Compact status of every region (cheap to poll)",
    **documented(CompactStatus, 401, 422, validators=True),
)
async def status_compact(request: Request, drills: bool = False) -> Response:
    return _once_per_log_id(request, compact_view(_hub(request), drills))


@router.get(
    "/status",
    summary="Status of every region for one threat, with since when",
    **documented(DetailedStatus, 401, 422, validators=True),
)
async def status_detailed(
    request: Request, threat: Threat = Threat.AIR_RAID, drills: bool = False
) -> Response:
    return _once_per_log_id(request, detailed_view(_hub(request), threat, drills))


View = tuple[Hashable, Callable[[], dict[str, Any]]]
"""What a kept view is keyed by (what it shows), and how it is made."""


def compact_view(hub: ReadModel, drills: bool = False) -> View:
    return ("status-compact", drills), lambda: compact_status(hub, drills)


def detailed_view(hub: ReadModel, threat: Threat = Threat.AIR_RAID, drills: bool = False) -> View:
    return ("status", threat, drills), lambda: detailed_status(hub, threat, drills)


def kept(bodies: Bodies, view: View, accept_encoding: bytes | None) -> Rendered:
    """The view's bytes at the current log id, in the form the client takes (made once)."""
    key, make = view
    return bodies.get(key, lambda: orjson.dumps(make())).negotiated(accept_encoding)


def _once_per_log_id(request: Request, view: View) -> Response:
    """A view rendered once per log id and kept (`tryvoha.server.bodies`), gzipped once for
    clients that take it: the whole country's status is a quarter of a megabyte, which pollers
    ask for again and again between two events, and every app that starts asks for the region
    list. The short cuts at the parser serve the very same bytes, with the same validators."""
    accept = request.headers.get("accept-encoding", "").encode("latin-1")
    rendered = kept(request.app.state.bodies, view, accept)
    headers = {name.decode(): value.decode() for name, value in rendered.headers}
    headers["ETag"] = rendered.etag.decode()  # kept, not hashed again per request
    return Response(rendered.body, media_type="application/json", headers=headers)


@router.get(
    "/alerts/active",
    summary="Open alerts, by region (with descendants) and threat",
    **documented(ActiveAlerts, 401, 404, 422, validators=True),
)
async def active(
    request: Request,
    region_id: RegionIdQuery = None,
    threat: Threat | None = None,
    status: StatusFilter = None,
) -> JSONResponse:
    hub = _hub(request)
    _known_region(hub, region_id)
    statuses = frozenset(status or [AlertStatus.ACTUAL])
    return JSONResponse(active_alerts_doc(hub, matching_alerts(hub, region_id, threat, statuses)))


@router.get(
    "/alerts/history",
    summary="Alerts, newest first, with filters and a cursor",
    **documented(AlertPage, 401, 404, 422, validators=True),
)
async def history(
    request: Request,
    region_id: RegionIdQuery = None,
    descendants: bool = True,
    threat: Threat | None = None,
    status: StatusFilter = None,
    since: Annotated[
        datetime | None, time_query("Alerts still running at or after this time.")
    ] = None,
    until: Annotated[datetime | None, time_query("Alerts started before this time.")] = None,
    source: Annotated[
        str | None,
        Query(max_length=ranges.MAX_SOURCE, description="'live', or 'import:<data set>'."),
    ] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    hub = _hub(request)
    _known_region(hub, region_id)
    since, until = checked_time(since, "since"), checked_time(until, "until")
    region_ids = None
    if region_id is not None:
        region_ids = [region_id]
        if descendants:
            region_ids += [r.id for r in hub.catalogue.descendants(region_id)]
    query = AlertQuery(
        region_ids=region_ids,
        threat=threat,
        statuses=frozenset(status) if status else None,
        since=since,
        until=until,
        source=source,
        before_id=cursor,
        limit=limit + 1,
    )
    found = await hub.query_alerts(query)
    page = found[:limit]
    next_cursor = page[-1].id if len(found) > limit else None
    body: dict[str, Any] = {"alerts": [alert_doc(a) for a in page], "next_cursor": next_cursor}
    return JSONResponse(body)


@router.get(
    "/alerts/{alert_id}",
    summary="One alert, open or ended",
    **documented(AlertDoc, 401, 404, 422, validators=True),
)
async def alert(request: Request, alert_id: AlertIdPath) -> JSONResponse:
    hub = _hub(request)
    found = hub.open_alert(alert_id) or await hub.read(hub.store.get_alert, alert_id)
    if found is None:
        raise ApiError(404, "unknown_alert", f"no alert with id {alert_id}")
    return JSONResponse(alert_doc(found))


@router.get(
    "/log",
    summary="The raw event log after a given id",
    **documented(LogPage, 401, 422, validators=True),
)
async def log(
    request: Request,
    after: LogAfter = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JSONResponse:
    hub = _hub(request)
    events = await hub.events_after(after, limit, public_only=True)  # no proposals
    return JSONResponse(
        {"events": [event_doc(e) for e in events], "last_event_id": hub.last_event_id}
    )
