"""The attacks ledger over HTTP (`/api/v1/attacks/...`): attacks, totals, waves, quote checks.

Every answer carries the definitions it used and the data set's `licence` and `attribution`;
bad input is a 4xx JSON error naming the problem, and a hub with no ledger imported answers
404 `no_ledger`.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi import Response as FastAPIResponse
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tryvoha.api.errors import ApiError
from tryvoha.api.schemas import ErrorBody
from tryvoha.history import charts
from tryvoha.history.attacks import check as checks
from tryvoha.history.attacks import ledger
from tryvoha.history.attacks.waves import AlertRecord, wave
from tryvoha.history.engine import StatsEngine
from tryvoha.readmodel import ReadModel
from tryvoha.server.conditional import HeadSecond, http_date
from tryvoha.store import attacks as store
from tryvoha.store.timeutil import from_us

router = APIRouter(prefix="/api/v1/attacks", tags=["attacks"])


# Response bodies ----------------------------------------------------------------------------


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "This hub requires a token for reads."},
    404: {"model": ErrorBody, "description": "`no_ledger` (nothing imported) or unknown id"},
    422: {"model": ErrorBody, "description": "a parameter out of its documented range"},
}


class Terms(BaseModel):
    licence: str = Field(description="The data set's licence, e.g. CC BY-NC-SA 4.0")
    licence_url: str
    attribution: str = Field(description="Show it wherever the figures are shown")
    source_url: str


class Part(BaseModel):
    model: str
    weapon_class: str
    launched: int
    launch_place: str | None


class Weapon(BaseModel):
    row_id: int
    line: int = Field(description="Line of the CSV file the row was imported from")
    model: str
    weapon_class: str
    class_label: str
    classes: list[str]
    kind: str
    launched: int | None
    shot_down: int | None
    lost_locally: int | None
    neutralised: int | None = Field(description="shot_down + lost_locally")
    in_air: int | None
    shaheds: int | None = Field(description="Of the launched, attack Shaheds (not decoys)")
    hit_places: int | None
    debris_places: int | None
    launch_place: str | None
    target: str | None
    target_main: str | None
    carrier: str | None
    affected_regions: list[Any] | None
    destroyed_by_command: dict[str, Any] | None
    post: str
    counted_in_all_sources: bool
    covered_by: int | None = Field(description="The national attack that already counts it")
    parts: list[Part]


class Window(BaseModel):
    start: datetime
    end: datetime
    start_local: str
    end_local: str
    as_reported: str
    date_only: bool


class Attack(BaseModel):
    id: int
    reporter: str
    channel: str
    level: Literal["national", "regional", "other"]
    window: Window
    report_date: date
    start_date: date
    night: date
    launched: int | None
    shot_down: int | None
    lost_locally: int | None
    neutralised: int | None
    in_air: int | None
    weapons: list[Weapon]


class AttackPage(Terms):
    attacks: list[Attack]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    definitions: dict[str, str]


class OblastWave(BaseModel):
    region_id: str
    name_en: str
    name_uk: str
    alerts: int
    hours: float
    whole_oblast_hours: float
    first_alert: datetime
    last_all_clear: datetime
    nights: list[date]


class Wave(BaseModel):
    search_from: datetime
    search_to: datetime
    alert_record: Literal["covered", "partial", "none"]
    record_span: str
    definition: str
    message: str | None = Field(None, description="'no alert record for this date: …'")
    alerts: int | None = None
    first_alert: datetime | None = None
    last_all_clear: datetime | None = None
    hours: float | None = None
    hours_any_alert: float | None = None
    oblasts: list[OblastWave] = []
    oblasts_under_alert: int | None = None
    oblasts_whole: int | None = None
    peak_oblasts: int | None = None
    peak_at: datetime | None = None
    peak_oblasts_any_part: int | None = None
    peak_any_part_at: datetime | None = None
    nights: list[date] = []
    oblast_nights: int | None = None


class AttackDetail(Terms):
    attack: Attack
    wave: Wave
    definitions: dict[str, str]


class TotalsRow(BaseModel):
    key: str | None
    label: str | None = None
    attacks: int
    rows: int
    launched: int | None
    shot_down: int | None
    lost_locally: int | None
    neutralised: int | None
    in_air: int | None
    hit_places: int | None
    debris_places: int | None
    shaheds: int | None
    launched_with_shaheds: int
    rows_with_shaheds: int
    rows_without_launched: int
    alert_record: Literal["covered", "partial", "none"] | None = None
    alert_oblast_hours: float | None = None
    oblasts_under_alert: int | None = None


class Totals(Terms):
    model_config = ConfigDict(populate_by_name=True)

    by: str
    basis: str
    sources: str
    weapons: str | None
    since: date | None = Field(alias="from")
    until: date | None = Field(alias="to")
    rows: list[TotalsRow]
    total: TotalsRow
    definitions: dict[str, str]


class CheckReading(BaseModel):
    weapons: str
    weapons_text: str
    basis: str
    sources: str
    value: int | None
    complete: bool
    attacks: int
    rows: int
    difference: int | None = Field(description="quoted − value")
    relative: float | None
    context: bool
    note: str | None


class CheckPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    label: str
    since: date = Field(alias="from")
    until: date = Field(alias="to")


class Check(Terms):
    period: CheckPeriod
    what: str
    figure: str
    quoted: int | None
    readings: list[CheckReading]
    verdict: str
    definitions: dict[str, Any]


class NightTally(Terms):
    night: date
    sources: str
    attacks: list[Attack]
    classes: list[TotalsRow]
    total: TotalsRow
    definitions: dict[str, str]


class Source(BaseModel):
    imported: bool = Field(description="False until `tryvoha attacks import` has run")
    message: str | None = None
    licence: str | None = None
    licence_url: str | None = None
    attribution: str | None = None
    source_url: str | None = None
    dataset: str | None = None
    imported_at: datetime | None = None
    file_name: str | None = None
    file_sha256: str | None = None
    records: int | None = None
    attacks: int = 0
    rows: int = 0
    alert_record: str


# Plumbing -----------------------------------------------------------------------------------


def _hub(request: Request) -> ReadModel:
    return request.app.state.model


async def _alerts(request: Request) -> AlertRecord:
    """The statistics engine the stats API uses (one per app), caught up with the log."""
    hub = _hub(request)
    engine = getattr(request.app.state, "stats_engine", None)
    if engine is None:
        engine = StatsEngine(hub.catalogue, hub.store)
        request.app.state.stats_engine = engine
    if engine.log_id != hub.last_event_id:
        await hub.read(engine.refresh)
    cached = getattr(request.app.state, "alert_record_spans", None)
    if cached is None or cached[0] != engine.log_id:
        cached = (engine.log_id, await hub.read(store.alert_record_spans, hub.store))
        request.app.state.alert_record_spans = cached
    return AlertRecord.of(engine, hub.store, hub.clock(), cached[1])


async def _run(request: Request, response: FastAPIResponse | None, fn: Any, *args: Any) -> Any:
    hub = _hub(request)
    try:
        result = await hub.read(lambda: fn(*args))
        imported = await hub.read(store.latest_import, hub.store)
    except ledger.NoLedger as exc:
        raise ApiError(404, "no_ledger", str(exc)) from exc
    except ledger.LedgerError as exc:
        raise ApiError(422, "bad_query", str(exc)) from exc
    if response is not None and imported is not None:
        changed = from_us(imported["imported_at"]).replace(microsecond=0)
        response.headers["Last-Modified"] = http_date(
            max(HeadSecond(hub).last_modified_at(), changed)
        )
    return result


Since = Annotated[
    date | None,
    Query(alias="from", description="First Kyiv date, included (2014-01-01 .. 2099-12-31)"),
]
Until = Annotated[date | None, Query(alias="to", description="Last Kyiv date, included")]
Basis = Annotated[
    Literal["report", "start", "night"],
    Query(description="Which date an attack is filed under: report (window end), start, night"),
]
Sources = Annotated[
    Literal["national", "regional", "other", "all"],
    Query(description="national reports only (default); all = national + uncounted regional"),
]
Weapons = Annotated[
    str | None,
    Query(
        alias="class",
        max_length=40,
        description="A weapon class (attack_drone, cruise, ballistic…), or drones/missiles/bombs",
    ),
]


# Routes (fixed paths before /{attack_id}) ------------------------------------------------------


@router.get("", response_model=AttackPage, responses=ERRORS, summary="Attacks of a period")
async def list_attacks(
    request: Request,
    response: FastAPIResponse,
    since: Since = None,
    until: Until = None,
    basis: Basis = "report",
    sources: Sources = "national",
    weapons: Weapons = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=ledger.MAX_LIMIT)] = 100,
) -> Any:
    """Oldest first; one attack per report window and reporting account, with its weapons."""
    reading = ledger.Reading(basis, sources, weapons, since, until)
    db = _hub(request).store
    return await _run(request, response, ledger.list_attacks, db, reading, cursor, limit)


@router.get("/totals", response_model=Totals, responses=ERRORS, summary="Totals by group")
async def totals(
    request: Request,
    response: FastAPIResponse,
    by: Annotated[
        Literal["day", "night", "month", "year", "class", "model", "reporter"],
        Query(description="night = by day on the night basis"),
    ] = "month",
    since: Since = None,
    until: Until = None,
    basis: Basis = "report",
    sources: Sources = "national",
    weapons: Weapons = None,
) -> Any:
    """Launched, shot down, lost, neutralised… per group; day, night, month and year rows carry
    the alert hours of the same period beside them."""
    reading = ledger.Reading(basis, sources, weapons, since, until)
    alerts = await _alerts(request) if by in ("day", "night", "month", "year") else None
    db = _hub(request).store
    return await _run(request, response, ledger.totals, db, reading, by, alerts)


@router.get("/check", response_model=Check, responses=ERRORS, summary="Check a quoted figure")
async def check(
    request: Request,
    response: FastAPIResponse,
    period: Annotated[
        str, Query(max_length=30, description="YYYY, YYYY-MM, YYYY-MM-DD or FROM..TO")
    ],
    what: Annotated[
        str, Query(max_length=40, description="drones, missiles, all, or a weapon class")
    ] = "all",
    figure: Annotated[
        Literal["launched", "neutralised", "shot_down", "lost_locally", "in_air"], Query()
    ] = "launched",
    quoted: Annotated[int | None, Query(ge=0, le=checks.MAX_QUOTED)] = None,
) -> Any:
    """What the data gives under every reading, and how far the quoted figure is from each."""
    db = _hub(request).store

    def run() -> dict[str, Any]:
        return checks.check(db, checks.parse_period(period), what, figure, quoted)

    return await _run(request, response, run)


@router.get(
    "/nights/{night}", response_model=NightTally, responses=ERRORS, summary="One night's tally"
)
async def night(
    request: Request, response: FastAPIResponse, night: date, sources: Sources = "national"
) -> Any:
    """The attacks filed under one night (06:00 to 06:00 Kyiv, named by its first date) with
    their totals by class: what the map shows beside the alerts of that night."""
    if not ledger.FIRST_DAY <= night <= ledger.LAST_DAY:
        raise ApiError(
            422, "bad_query", f"night must be from {ledger.FIRST_DAY} to {ledger.LAST_DAY}"
        )
    db = _hub(request).store
    return await _run(request, response, ledger.night_tally, db, night, sources)


@router.get(
    "/source",
    response_model=Source,
    responses={401: ERRORS[401]},
    summary="Whether a ledger is imported, its terms",
)
async def source(request: Request, response: FastAPIResponse) -> Any:
    """Licence, attribution, the imported file and the span of the alert record beside it;
    `imported: false` (200) before the first import, so a page can ask without an error."""
    hub = _hub(request)
    alerts = await _alerts(request)

    def run() -> dict[str, Any]:
        base = {"alert_record": alerts.describe(), **store.ledger_size(hub.store)}
        try:
            return {"imported": True, **ledger.licence(hub.store), **base}
        except ledger.NoLedger as exc:
            return {"imported": False, "message": str(exc), **base}

    return await _run(request, response, run)


@router.get(
    "/charts/monthly.{fmt}",
    responses={**ERRORS, 200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    summary="Monthly launched and neutralised by class beside alert hours (PNG or SVG)",
)
async def monthly_chart(
    request: Request,
    fmt: str,
    since: Since = None,
    until: Until = None,
    basis: Basis = "report",
    sources: Sources = "national",
    weapons: Weapons = None,
) -> Response:
    if fmt not in charts.FORMATS:
        raise ApiError(404, "unknown_format", f"charts come as png or svg, not {fmt[:10]!r}")
    reading = ledger.Reading(basis, sources, weapons, since, until)
    alerts = await _alerts(request)
    db = _hub(request).store
    data = await _run(request, None, ledger.monthly_chart_data, db, reading, alerts)
    title = f"Air Force tallies by month ({sources} reports) beside alert hours"
    body = await asyncio.to_thread(charts.attacks_monthly_chart, data, title, fmt)
    return Response(body, media_type=charts.FORMATS[fmt])


@router.get(
    "/{attack_id}", response_model=AttackDetail, responses=ERRORS, summary="An attack and its wave"
)
async def attack(
    request: Request,
    response: FastAPIResponse,
    attack_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="An attack's id")],
) -> Any:
    """The attack's weapons and the alert wave around it (or 'no alert record for this date')."""
    hub = _hub(request)
    alerts = await _alerts(request)

    def run() -> dict[str, Any]:
        terms = ledger.licence(hub.store)
        found = store.get_attacks(hub.store, [attack_id])
        if not found:
            raise ApiError(404, "unknown_attack", f"no attack with id {attack_id}")
        doc = ledger.attack_doc(found[0], store.rows_of(hub.store, [attack_id])[attack_id])
        return {
            "attack": doc,
            "wave": wave(alerts, found[0]),
            "definitions": {**ledger.DEFINITIONS},
            **{k: terms[k] for k in ("licence", "licence_url", "attribution", "source_url")},
        }

    return await _run(request, response, run)
