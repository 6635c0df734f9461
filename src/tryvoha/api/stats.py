"""Statistics of the alert record (`/api/v1/stats/...`): JSON for the web, charts as PNG/SVG."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tryvoha.alerts.model import Threat
from tryvoha.api.errors import ApiError
from tryvoha.api.params import checked_time, time_query
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Calendar, Longest, Nationwide, Summary, documented
from tryvoha.history import charts, stats
from tryvoha.history.coverage import Coverage
from tryvoha.history.engine import StatsEngine
from tryvoha.readmodel import ReadModel
from tryvoha.regions import AmbiguousRegion, UnknownRegion
from tryvoha.store.timeutil import from_us

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])
DEFAULT_SINCE = datetime(2022, 2, 24, tzinfo=UTC)

Region = Annotated[
    str,
    Query(
        max_length=200,
        description="Region id, or a name such as 'Kyiv City' (default: all of Ukraine)",
    ),
]
Since = Annotated[datetime | None, time_query("Start; default the first alert.", alias="from")]
Until = Annotated[datetime | None, time_query("End; default now.", alias="to")]
Descendants = Annotated[bool, Query(description="Include alerts of the region's sub-regions")]
Ancestors = Annotated[
    bool, Query(description="Include alerts of the regions containing it (its status time)")
]


def _engine(request: Request) -> StatsEngine:
    engine = getattr(request.app.state, "stats_engine", None)
    if engine is None:
        hub: ReadModel = request.app.state.model
        engine = StatsEngine(hub.catalogue, hub.store)
        request.app.state.stats_engine = engine
    return engine


async def _fresh(request: Request) -> StatsEngine:
    engine = _engine(request)
    hub: ReadModel = request.app.state.model
    if engine.log_id != hub.last_event_id:
        await hub.read(engine.refresh)
    return engine


def _region_id(hub: ReadModel, region: str) -> str:
    if region in hub.catalogue:
        return region
    try:
        return hub.catalogue.resolve(region).id
    except (UnknownRegion, AmbiguousRegion) as exc:
        raise ApiError(404, "unknown_region", str(exc)) from exc


async def _scope(
    request: Request,
    region: Region = "UA",
    since: Since = None,
    until: Until = None,
    threat: Threat = Threat.AIR_RAID,
    descendants: Descendants = True,
    ancestors: Ancestors = False,
) -> tuple[StatsEngine, stats.Scope]:
    """The engine, caught up with the log, and the scope the query parameters name."""
    since = checked_time(since, "from")
    until = checked_time(until, "to")
    engine = await _fresh(request)
    hub: ReadModel = request.app.state.model
    now = hub.clock()
    if since is None:
        first = (await hub.read(engine.span))[0]
        since = DEFAULT_SINCE if first is None else min(DEFAULT_SINCE, from_us(first))
    scope = stats.Scope(
        region_id=_region_id(hub, region),
        since=since,
        until=until if until is not None else now,
        threat=threat,
        descendants=descendants,
        ancestors=ancestors,
        now=now,
    )
    try:
        stats.check_scope(engine, scope)
    except stats.StatsError as exc:
        raise ApiError(422, "bad_period", str(exc)) from exc
    return engine, scope


Scoped = Annotated[tuple[StatsEngine, stats.Scope], Depends(_scope)]


async def current_coverage(request: Request) -> Coverage:
    """What the log's record covers: read once per log id (two aggregates over the events
    table), kept on the app."""
    hub: ReadModel = request.app.state.model
    cached = getattr(request.app.state, "stats_coverage", None)
    if cached is None or cached[0] != hub.last_event_id:
        log_id = hub.last_event_id
        cached = (log_id, await hub.read(Coverage.of, hub.store))
        request.app.state.stats_coverage = cached
    return cached[1]


async def _coverage(request: Request, scope: stats.Scope) -> dict[str, object]:
    """The `coverage` object: the record, and what of the scope's period it does not cover."""
    return (await current_coverage(request)).doc(
        scope.since, scope.until, scope.now or datetime.now(UTC)
    )


async def _run(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    hub: ReadModel = request.app.state.model
    try:
        return await hub.read(lambda: fn(*args, **kwargs))
    except stats.StatsError as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc


@router.get(
    "/summary",
    summary="Alerts, hours under alert, night shares, durations, start hours",
    **documented(Summary, 401, 404, 422, validators=True),
)
async def summary(
    request: Request,
    target: Scoped,
) -> JSONResponse:
    engine, scope = target
    result = await _run(request, stats.summary, engine, scope)
    return JSONResponse({**result.doc(), "coverage": await _coverage(request, scope)})


@router.get(
    "/longest",
    summary="The longest alerts of a region and period",
    **documented(Longest, 401, 404, 422, validators=True),
)
async def longest(
    request: Request,
    target: Scoped,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> JSONResponse:
    engine, scope = target
    rows = await _run(request, stats.longest, engine, scope, limit)
    coverage = await _coverage(request, scope)
    return JSONResponse({"alerts": rows, "log_id": engine.log_id, "coverage": coverage})


@router.get(
    "/calendar",
    summary="Per Kyiv day: alerts started and hours under alert",
    **documented(Calendar, 401, 404, 422, validators=True),
)
async def calendar(
    request: Request,
    target: Scoped,
) -> JSONResponse:
    engine, scope = target
    days = await _run(request, stats.calendar, engine, scope)
    return JSONResponse(
        {
            "region_id": scope.region_id,
            "days": days,
            "log_id": engine.log_id,
            "coverage": await _coverage(request, scope),
        }
    )


@router.get(
    "/nationwide",
    summary="Per Kyiv day or night: most oblasts under alert at once",
    **documented(Nationwide, 401, 422, validators=True),
)
async def nationwide(
    request: Request,
    since: Since = None,
    until: Until = None,
    threat: Threat = Threat.AIR_RAID,
    kind: Annotated[str, Query(pattern="^(day|night)$")] = "night",
    whole_oblast: Annotated[
        bool, Query(description="Count an oblast only when the whole oblast is under alert")
    ] = True,
    only_nationwide: Annotated[bool, Query(description="List only nationwide ones")] = False,
) -> JSONResponse:
    engine, scope = await _scope(request, "UA", since, until, threat, True, False)
    rows = await _run(
        request,
        stats.nationwide,
        engine,
        scope.since,
        scope.until,
        threat,
        kind=kind,
        whole_oblast=whole_oblast,
        now=scope.now,
    )
    if only_nationwide:
        rows = [r for r in rows if r["nationwide"]]
    count = sum(r["nationwide"] for r in rows)
    return JSONResponse(
        {
            "kind": kind,
            "nationwide": count,
            "rows": rows,
            "log_id": engine.log_id,
            "coverage": await _coverage(request, scope),
        }
    )


@router.get(
    "/charts/{name}.{fmt}",
    summary="Start-hour chart or calendar heat map as PNG or SVG",
    response_class=Response,
    **documented(None, 401, 404, 422, validators=True, media_type=("image/png", "image/svg+xml")),
)
async def chart(
    request: Request,
    name: str,
    fmt: str,
    target: Scoped,
) -> Response:
    if fmt not in charts.FORMATS:
        raise ApiError(404, "unknown_format", f"charts come as png or svg, not {fmt!r}")
    if name not in ("start-hours", "calendar"):
        raise ApiError(404, "unknown_chart", f"no chart {name!r}; try start-hours or calendar")
    engine, scope = target
    label = request.app.state.model.catalogue.get(scope.region_id).name_en
    if name == "start-hours":
        result = await _run(request, stats.summary, engine, scope)
        title = f"{label}: {result.alerts} alerts by start hour"
        body = await asyncio.to_thread(charts.start_hour_chart, result.start_hours, title, fmt)
    else:
        days = await _run(request, stats.calendar, engine, scope)
        title = f"{label}: hours under alert per day"
        body = await asyncio.to_thread(charts.calendar_heatmap, days, title, fmt)
    return Response(body, media_type=charts.FORMATS[fmt])
