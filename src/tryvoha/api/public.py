"""Public read-only API (`/api/v1`): regions, status, active alerts, history and the raw log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

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
from tryvoha.hub import Hub
from tryvoha.regions import Level, UnknownRegion
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


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _known_region(hub: Hub, region_id: str | None) -> str | None:
    if region_id is not None and region_id not in hub.catalogue:
        raise ApiError(404, "unknown_region", f"no region with id {region_id!r}")
    return region_id


@router.get("/regions", summary="The region tree, flat, in tree order")
async def regions(
    request: Request, level: Level | None = None, parent_id: RegionIdQuery = None
) -> JSONResponse:
    hub = _hub(request)
    _known_region(hub, parent_id)
    items = [
        region_doc(r)
        for r in hub.catalogue
        if (level is None or r.level is level) and (parent_id is None or r.parent_id == parent_id)
    ]
    return JSONResponse({"regions": items})


@router.get("/regions/{region_id}", summary="One region, its children and its status")
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


@router.get("/status/compact", summary="Compact status of every region (cheap to poll)")
async def status_compact(request: Request, drills: bool = False) -> JSONResponse:
    return JSONResponse(compact_status(_hub(request), drills))


@router.get("/status", summary="Status of every region for one threat, with since when")
async def status_detailed(
    request: Request, threat: Threat = Threat.AIR_RAID, drills: bool = False
) -> JSONResponse:
    return JSONResponse(detailed_status(_hub(request), threat, drills))


@router.get("/alerts/active", summary="Open alerts, by region (with descendants) and threat")
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


@router.get("/alerts/history", summary="Alerts, newest first, with filters and a cursor")
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
    found = await hub.read(hub.store.query_alerts, query)
    page = found[:limit]
    next_cursor = page[-1].id if len(found) > limit else None
    body: dict[str, Any] = {"alerts": [alert_doc(a) for a in page], "next_cursor": next_cursor}
    return JSONResponse(body)


@router.get("/alerts/{alert_id}", summary="One alert, open or ended")
async def alert(request: Request, alert_id: AlertIdPath) -> JSONResponse:
    hub = _hub(request)
    found = hub.state.open_alerts.get(alert_id) or await hub.read(hub.store.get_alert, alert_id)
    if found is None:
        raise ApiError(404, "unknown_alert", f"no alert with id {alert_id}")
    return JSONResponse(alert_doc(found))


@router.get("/log", summary="The raw event log after a given id")
async def log(
    request: Request,
    after: LogAfter = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JSONResponse:
    hub = _hub(request)
    events = await hub.read(hub.store.events_after, after, limit, True)  # no proposals
    return JSONResponse(
        {"events": [event_doc(e) for e in events], "last_event_id": hub.last_event_id}
    )
