"""The alarm map: the page at `/`, its static files, and the few JSON answers only the map needs;
and the API page at `/docs` (Swagger UI from the package: it works with no internet).

Static files are read once and kept in memory with their gzip form, so the page costs one
compressed transfer and no disk reads; the boundaries asset is stored gzipped in the package and
sent as it is. Map routes are read-only and behind the same read gate as the public API.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response

from tryvoha.alerts.model import Alert, AlertStatus, Threat
from tryvoha.alerts.wire import alert_doc, iso
from tryvoha.api.errors import ApiError
from tryvoha.api.params import RegionIdPath, checked_time, time_query
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import AlertsAt, AlertsSpan, Located, MapConfig, Today, documented
from tryvoha.api.stats import current_coverage
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Level, Region
from tryvoha.server.conditional import etag_of
from tryvoha.store import AlertQuery
from tryvoha.views import region_doc

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
APIDOCS = Path(__file__).resolve().parents[1] / "web" / "apidocs"
"""Swagger UI, put there by scripts/build_docs_assets.py from the npm package, and its page."""
KYIV = ZoneInfo("Europe/Kyiv")
PAGE = 5000
MAX_SPAN = timedelta(days=3)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    plain: bytes
    gzipped: bytes
    content_type: str
    etag: str


@cache
def static_files(folder: Path = STATIC) -> dict[str, StaticFile]:
    """Every file of the map (or of another folder of pages), keyed by its name; `x.json.gz` is
    served as `x.json`."""
    files = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        name = path.name
        if name.endswith(".gz"):
            name, packed, plain = name[:-3], data, gzip.decompress(data)
        else:
            plain, packed = data, gzip.compress(data, compresslevel=9, mtime=0)
        content_type = TYPES.get(Path(name).suffix, "application/octet-stream")
        files[name] = StaticFile(plain, packed, content_type, etag_of(plain).decode())
    return files


def _static_response(
    request: Request, name: str, cache_control: str, folder: Path = STATIC
) -> Response:
    found = static_files(folder).get(name)
    if found is None:
        what = "map" if folder == STATIC else "API page"
        raise ApiError(404, "not_found", f"no {what} file named {name!r}")
    headers = {"ETag": found.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.content_type, headers=headers)
    return Response(found.plain, media_type=found.content_type, headers=headers)


page = APIRouter(include_in_schema=False)


@page.get("/")
async def index(request: Request) -> Response:
    return _static_response(request, "index.html", "no-cache")


@page.get("/map/{name}")
async def asset(request: Request, name: str) -> Response:
    return _static_response(request, name, "no-cache")


@page.get("/console")
async def console(request: Request) -> Response:
    """The dispatcher's console (docs/console.md): static, it talks to the operator API only.
    Never stored by a cache: it is where tokens are typed."""
    return _static_response(request, "console.html", "no-store")


@page.get("/console/{name}")
async def console_asset(request: Request, name: str) -> Response:
    return _static_response(request, name, "no-cache")


@page.get("/docs")
async def api_page(request: Request) -> Response:
    """The API page: Swagger UI over `/openapi.json`, every file from the package."""
    return _static_response(request, "index.html", "no-cache", APIDOCS)


@page.get("/docs/{name}")
async def api_page_asset(request: Request, name: str) -> Response:
    return _static_response(request, name, "no-cache", APIDOCS)


api = APIRouter(prefix="/api/v1/map", tags=["map"])


def _hub(request: Request) -> ReadModel:
    return request.app.state.model


def _aware(name: str, value: datetime) -> datetime:
    checked = checked_time(value, name)
    assert checked is not None
    return checked.astimezone(UTC)


async def alerts_overlapping(hub: ReadModel, since: datetime, until: datetime) -> list[Alert]:
    """Every alert (any threat and status) active at some moment of [since, until].

    An alert is active at t when started_at ≤ t and (ended_at is None or ended_at > t).
    """
    found: list[Alert] = []
    cursor = None
    while True:
        query = AlertQuery(
            since=since, until=until + timedelta(microseconds=1), before_id=cursor, limit=PAGE
        )
        batch = await hub.query_alerts(query)
        found.extend(batch)
        if len(batch) < PAGE:
            break
        cursor = batch[-1].id
    found.sort(key=lambda a: (a.started_at, a.id))
    return found


@api.get(
    "/config",
    summary="What the map page needs to know about this hub",
    **documented(MapConfig, 401, validators=True),
)
async def config(request: Request) -> JSONResponse:
    hub = _hub(request)
    replay = getattr(request.app.state, "replay", None)  # set by `tryvoha replay --serve`
    record = await current_coverage(request)
    return JSONResponse(
        {
            "tile_url": request.app.state.settings.map_tile_url,
            "tile_attribution": request.app.state.settings.map_tile_attribution,
            "log_id": hub.last_event_id,
            "replay": None if replay is None else replay.doc(),
            "record": {
                "first_day": None if record.first is None else record.first.isoformat(),
                "last_day": None if record.last is None else record.last.isoformat(),
                "live_since": iso(record.live_since),
            },
        }
    )


@api.get(
    "/at",
    summary="Every alert that was active at one moment, from the log",
    **documented(AlertsAt, 401, 422, validators=True),
)
async def at(
    request: Request, time: Annotated[datetime, time_query("The moment.")]
) -> JSONResponse:
    moment = _aware("time", time)
    found = await alerts_overlapping(_hub(request), moment, moment)
    return JSONResponse({"time": iso(moment), "alerts": [alert_doc(a) for a in found]})


@api.get(
    "/alerts",
    summary="Every alert active at some moment of a span (for playback)",
    **documented(AlertsSpan, 401, 422, validators=True),
)
async def span(
    request: Request,
    since: Annotated[datetime, time_query("Start of the span.")],
    until: Annotated[datetime, time_query("End of the span (at most 3 days after since).")],
) -> JSONResponse:
    start, end = _aware("since", since), _aware("until", until)
    if end < start:
        raise ApiError(422, "bad_span", "until must not be before since")
    if end - start > MAX_SPAN:
        raise ApiError(422, "span_too_long", "a playback span is at most 3 days")
    found = await alerts_overlapping(_hub(request), start, end)
    return JSONResponse(
        {"since": iso(start), "until": iso(end), "alerts": [alert_doc(a) for a in found]}
    )


def _place(hub: ReadModel, region: Region) -> dict[str, Any]:
    doc = region_doc(region)
    doc["ancestors"] = [
        region_doc(a) for a in hub.catalogue.ancestors(region.id) if a.level is not Level.COUNTRY
    ]
    return doc


@api.get(
    "/locate",
    summary="The hromada at a point, or the regions a typed name can mean",
    **documented(Located, 401, 404, 422, validators=True),
)
async def locate(
    request: Request,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    hub = _hub(request)
    if lat is not None and lon is not None:
        found = await hub.read(hub.catalogue.at, lat, lon)
        if found is None:
            raise ApiError(404, "outside_ukraine", f"no hromada holds the point {lat}, {lon}")
        return JSONResponse({"regions": [_place(hub, found)]})
    if q is None or not q.strip():
        raise ApiError(422, "nothing_to_locate", "give lat and lon, or a place name as q")
    matches = hub.catalogue.find(q)
    suggestions = [] if matches else hub.catalogue.closest(q)
    if not matches and not suggestions:
        raise ApiError(404, "unknown_place", f"no region named {q!r}")
    return JSONResponse(
        {
            "regions": [_place(hub, r) for r in matches[:20]],
            "suggestions": [_place(hub, r) for r in suggestions],
        }
    )


def kyiv_midnight(now: datetime) -> datetime:
    local = now.astimezone(KYIV)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@api.get(
    "/regions/{region_id}/today",
    summary="How many alerts touched a region today (Kyiv)",
    **documented(Today, 401, 404, 422, validators=True),
)
async def today(
    request: Request, region_id: RegionIdPath, threat: Threat = Threat.AIR_RAID
) -> JSONResponse:
    """Alerts of the region itself, of a region containing it, or of one within it, that were
    active at some time since midnight in Kyiv: what "alerts today" means to a resident."""
    hub = _hub(request)
    if region_id not in hub.catalogue:
        raise ApiError(404, "unknown_region", f"no region with id {region_id!r}")
    ids = [region_id]
    ids += [a.id for a in hub.catalogue.ancestors(region_id)]
    ids += [d.id for d in hub.catalogue.descendants(region_id)]
    since = kyiv_midnight(hub.clock())
    query = AlertQuery(
        region_ids=ids,
        threat=threat,
        statuses=frozenset({AlertStatus.ACTUAL}),
        since=since,
        limit=10_000,
    )
    found = await hub.query_alerts(query)
    return JSONResponse(
        {"region_id": region_id, "threat": threat.value, "since": iso(since), "count": len(found)}
    )


def install(app: FastAPI) -> None:
    """Add the map's API and its page; the page routes are explicit paths, never a catch-all."""
    app.include_router(api, dependencies=[Depends(app.state.read_gate.check)])
    app.include_router(page)
