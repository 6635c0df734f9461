"""The bodies of tryvoha's own API, as the OpenAPI document describes them.

Handlers render their JSON with the shared views (`tryvoha.views`, `tryvoha.alerts.wire`), not with
these models: the models say what those bodies are, so generated clients and the schema fuzz test
(`tests/test_openapi_fuzz.py`) can hold every answer to them. `documented(...)` gives a route's
decorator the success body and every error answer it really gives.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from tryvoha.alerts.model import AlertStatus, Detail, EventKind, RegionStatus, Threat
from tryvoha.regions import Level
from tryvoha.server.conditional import VALIDATOR_HEADERS

Time = str
"""UTC, ISO 8601 with milliseconds and `Z`, e.g. `2025-03-01T12:00:30.250Z`."""


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, machine-readable name of the problem.")
    message: str = Field(description="What was wrong, for people.")


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message", …}}`; some carry more fields (a 409
    names the open alert in `open_alert_id`, a 422 lists `problems`)."""

    error: ErrorDetail


class RegionDoc(BaseModel):
    id: str
    level: Level
    parent_id: str | None
    oblast_id: str | None
    name_uk: str
    name_en: str
    katottg: str | None
    ukrainealarm_id: str | None
    alerts_in_ua_uid: int | None


class RegionList(BaseModel):
    regions: list[RegionDoc]


class RegionDetail(RegionDoc):
    children: list[str] = Field(description="Ids of the regions directly inside it.")
    status: dict[str, RegionStatus] = Field(description="Its status per threat (with an alert).")
    log_id: int


class AlertDoc(BaseModel):
    id: int
    region_id: str
    threat: Threat
    details: list[Detail]
    status: AlertStatus
    notes: str | None
    started_at: Time
    ended_at: Time | None
    updated_at: Time | None
    originator: str
    ended_by: str | None
    source: str
    last_event_id: int
    retracted: bool = Field(False, description="Ended because it was issued in error.")
    proposed_by: str | None = Field(None, description="Who proposed it, when a second approved.")


class EventDoc(BaseModel):
    id: int
    kind: EventKind
    alert_id: int
    region_id: str
    threat: Threat
    details: list[Detail]
    status: AlertStatus
    notes: str | None
    occurred_at: Time
    recorded_at: Time
    originator: str
    source: str
    reason: str | None = Field(None, description="Why it was retracted or rejected.")
    correction: str | None = Field(None, description="A retraction's public correction.")
    proposal_id: int | None = Field(None, description="The proposal an approval sent out.")
    proposed_by: str | None = Field(None, description="Who proposed what was approved.")


class Change(BaseModel):
    """The answer to a declaration, update, end or retraction: the event written and the alert
    after it."""

    event: EventDoc
    alert: AlertDoc


class Changes(BaseModel):
    """The answer to a declaration for several regions: one event and alert per region."""

    events: list[EventDoc]
    alerts: list[AlertDoc]


class ProposalDoc(BaseModel):
    """A declaration waiting for a second operator (docs/operators.md)."""

    id: int
    state: Literal["pending", "approved", "rejected", "expired"]
    region_ids: list[str]
    threat: Threat
    details: list[Detail]
    status: AlertStatus
    notes: str | None
    proposed_by: str
    proposed_at: Time
    recorded_at: Time
    expires_at: Time
    event_ids: list[int]
    decided_by: str | None
    decided_at: Time | None
    reason: str | None
    alert_ids: list[int]


class ProposalView(ProposalDoc):
    rule: str | None = Field(description="Why it waits for a second operator.")
    can_approve: bool = Field(description="Whether this token may approve it now.")


class ProposalDetail(ProposalView):
    approvers: list[str] = Field(description="Tokens that may approve it.")


class Proposals(BaseModel):
    proposals: list[ProposalView]
    log_id: int
    now: Time


class Proposed(BaseModel):
    """A declaration the second-person rule caught: it waits as a proposal."""

    proposal: ProposalDoc
    rule: str | None


class Decision(BaseModel):
    """An approval (with the alerts it sent out) or a rejection."""

    proposal: ProposalDoc
    events: list[EventDoc] = Field(default_factory=list)
    alerts: list[AlertDoc] = Field(default_factory=list)


class StreamPart(BaseModel):
    handed_at: Time | None = Field(description="First written to a subscriber; null: not yet.")
    after_ms: float | None = Field(description="Milliseconds from the commit to that write.")
    reached: int = Field(description="Live subscribers it was written to.")


class StreamsReceipt(BaseModel):
    reached: int = Field(description="Live SSE and WebSocket subscribers it was written to.")
    handed_at: Time | None
    after_ms: float | None
    last_after_ms: float | None = Field(description="Milliseconds to the last such write.")
    kept: bool = Field(description="False: older than the receipts kept (TRYVOHA_RECEIPTS_KEEP).")
    sse: StreamPart
    ws: StreamPart


class WebhooksReceipt(BaseModel):
    subscriptions: int = Field(description="Subscriptions the event was queued for.")
    acknowledged: int = Field(description="Receivers that answered 2xx.")
    waiting: int = Field(description="Not tried yet.")
    retrying: int = Field(description="Tried, failed, to be retried.")
    expired: int = Field(description="Given up on (an operator can retry them).")
    last_error: str | None = Field(
        description="The latest failure in the hub's words (status or network error); never "
        "the receiver's body."
    )
    last_acknowledged_after_ms: float | None


class MqttReceipt(BaseModel):
    configured: bool
    handed_at: Time | None = Field(description="Handed to the broker; null: not (yet).")
    after_ms: float | None


class CapReceipt(BaseModel):
    available: bool
    url: str


class Channels(BaseModel):
    streams: StreamsReceipt
    webhooks: WebhooksReceipt
    mqtt: MqttReceipt
    cap: CapReceipt


class Delivery(BaseModel):
    """What each channel did with one event."""

    event_id: int
    kind: EventKind
    region_id: str
    status: AlertStatus
    recorded_at: Time
    public: bool = Field(description="False for a proposal's events: they go out on no channel.")
    channels: Channels | None


class PreviewRegion(BaseModel):
    id: str
    level: Level
    name_uk: str
    name_en: str
    hromadas: int = Field(description="Hromadas it covers.")
    parents_uk: list[str]
    parents_en: list[str]


class PreviewChannel(BaseModel):
    media_type: str
    body: str = Field(description="What the channel would carry, exactly (unsigned: see note).")
    topic: str | None = None
    note: str


class Preview(BaseModel):
    """What a declaration would do, with nothing written."""

    regions: list[PreviewRegion]
    hromadas: int = Field(description="Hromadas the whole area covers.")
    oblasts: int = Field(description="Oblast-level units it touches.")
    area: dict[str, Any] = Field(description="The area as a simplified GeoJSON geometry.")
    second_person: bool = Field(description="Whether it would wait for a second operator.")
    rule: str | None = Field(description="Why it would wait; null when it goes out at once.")
    expires_in_seconds: int | None = Field(description="How long a proposal would wait.")
    events: list[EventDoc] = Field(description="The events it would write, ids predicted.")
    channels: list[dict[str, PreviewChannel]] = Field(
        description="Per event: the stream frame, webhook body, MQTT message and CAP message."
    )


class TokenSelf(BaseModel):
    """What this token may touch."""

    name: str
    originator: str
    scopes: list[dict[str, Any]] | None = Field(description="Its regions; null: every region.")
    mode: Literal["all", "drills_only"] = Field(
        description="drills_only: exercise and test alerts only, never actual ones."
    )
    statuses: list[AlertStatus] = Field(description="The statuses it may declare.")
    may_approve: bool = Field(description="Whether it may approve proposals (in its regions).")
    approval_rule: dict[str, Any] = Field(description="The hub's second-person rule.")


class Correction(BaseModel):
    alert_id: int
    correction: str = Field(description="Ukrainian, a newline, English.")


class Actions(BaseModel):
    """This token's own recent events, newest first."""

    events: list[EventDoc]
    log_id: int


class ThreatRoots(BaseModel):
    alerts: list[str] = Field(description="Regions with an alert of their own.")
    partial: list[str] = Field(description="Regions with an alert only somewhere inside them.")


class CompactStatus(BaseModel):
    log_id: int
    updated_at: Time | None
    threats: dict[str, ThreatRoots] = Field(description="Per threat with an open alert.")


class RegionState(BaseModel):
    id: str
    level: Level
    name_uk: str
    name_en: str
    status: RegionStatus
    since: Time | None


class DetailedStatus(BaseModel):
    log_id: int
    updated_at: Time | None
    threat: Threat
    drills: bool
    regions: list[RegionState]


class ActiveAlerts(BaseModel):
    log_id: int
    alerts: list[AlertDoc]


class AlertPage(BaseModel):
    alerts: list[AlertDoc]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page; null: none.")


class LogPage(BaseModel):
    events: list[EventDoc]
    last_event_id: int


class Missing(BaseModel):
    from_: Time = Field(alias="from")
    to: Time


class Coverage(BaseModel):
    """What the log's record covers: the Kyiv days of the imported record (the bundled one is
    2022-03-15 … 2023-12-31) and the hub's first live event. `missing`: the parts of the asked
    period in neither, where figures count no alerts for want of data; `warning` says so."""

    record_first_day: str | None
    record_last_day: str | None
    live_since: Time | None
    complete: bool
    missing: list[Missing]
    warning: str | None


class Summary(BaseModel):
    region_id: str
    threat: Threat
    since: str
    until: str
    descendants: bool
    ancestors: bool
    alerts: int
    night_alerts: int
    night_alert_share: float | None
    hours: float
    night_hours: float
    night_hour_share: float | None
    nights_with_alert: int
    nights_in_period: int
    days_with_alert: int
    episodes: int
    duration_minutes: dict[Literal["median", "p90", "max"], float | None]
    start_hours: list[int] = Field(min_length=24, max_length=24)
    log_id: int
    coverage: Coverage


class LongAlert(BaseModel):
    alert_id: int
    region_id: str
    region_name_en: str
    started_at: str
    ended_at: str | None
    open: bool
    hours: float


class Longest(BaseModel):
    alerts: list[LongAlert]
    log_id: int
    coverage: Coverage


class Day(BaseModel):
    date: str
    alerts: int
    hours: float


class Calendar(BaseModel):
    region_id: str
    days: list[Day]
    log_id: int
    coverage: Coverage


class NationwideRow(BaseModel):
    day: str | None = Field(default=None, description="The Kyiv day (with `kind=day`).")
    night: str | None = Field(default=None, description="The night's date (with `kind=night`).")
    max_oblasts: int
    at: str | None
    oblasts_in_service: int
    nationwide: bool


class Nationwide(BaseModel):
    kind: Literal["day", "night"]
    nationwide: int
    rows: list[NationwideRow]
    log_id: int
    coverage: Coverage


class ReplayInfo(BaseModel):
    """A demo hub fed by `tryvoha replay --serve`: events now re-enact the period since–until,
    `speed` times faster than it happened, from the wall time `began`."""

    since: Time
    until: Time
    speed: float
    began: Time


class Record(BaseModel):
    """What the log's record covers (see `Coverage`): history shown outside it shows no data."""

    first_day: str | None
    last_day: str | None
    live_since: Time | None


class MapConfig(BaseModel):
    tile_url: str | None
    tile_attribution: str | None
    log_id: int
    replay: ReplayInfo | None = None
    record: Record


class AlertsAt(BaseModel):
    time: Time
    alerts: list[AlertDoc]


class AlertsSpan(BaseModel):
    since: Time
    until: Time
    alerts: list[AlertDoc]


class Place(RegionDoc):
    ancestors: list[RegionDoc]


class Located(BaseModel):
    regions: list[Place]
    suggestions: list[Place] | None = Field(default=None, description="For a name: near misses.")


class Today(BaseModel):
    region_id: str
    threat: Threat
    since: Time
    count: int


class DeliveryDoc(BaseModel):
    id: int
    event_id: int
    state: Literal["pending", "delivered", "expired"]
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: Time | None
    next_attempt_at: Time | None
    expires_at: Time | None
    delivered_at: Time | None
    created_at: Time | None


class DeliveryHealth(BaseModel):
    pending: int
    delivered: int
    expired: int
    last_delivered_at: Time | None
    failing: bool
    head: DeliveryDoc | None


class WebhookDoc(BaseModel):
    id: int
    url: str
    regions: list[str]
    threats: list[Threat]
    statuses: list[AlertStatus]
    description: str | None
    owner: str
    after_event_id: int
    created_at: Time
    deliveries: DeliveryHealth | None = None


class NewWebhook(WebhookDoc):
    secret: str = Field(description="The signing secret; shown only in this answer.")


class WebhookList(BaseModel):
    webhooks: list[WebhookDoc]


class Deliveries(BaseModel):
    subscription_id: int
    deliveries: list[DeliveryDoc]


class Requeued(BaseModel):
    subscription_id: int
    requeued: int


class Deleted(BaseModel):
    id: int
    deleted: bool
    dropped_pending: int


ERRORS = {
    400: "The request is malformed (a stream filter, a parameter).",
    401: "No token, an unknown or revoked one; or this hub requires a token for reads.",
    403: "The token may not touch this region.",
    404: "No such region, alert or subscription.",
    409: "An alert is already open (`open_alert_id` names it), or the alert is not open.",
    413: "The request body is over 16 KiB.",
    422: "A value is out of its range or not understood; `problems` lists each.",
    503: "A part of the hub this route needs is not running: webhook delivery, or signing.",
}
CHALLENGE = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm."}}
BINARY = {"type": "string", "format": "binary"}
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The alert or webhook."}}


def documented(
    body: Any,
    *errors: int,
    status: int = 200,
    validators: bool = False,
    media_type: str | tuple[str, ...] = "application/json",
    created: bool = False,
    also: dict[int, Any] | None = None,
) -> dict[str, Any]:
    """Decorator arguments: the success body (a model, or a union of models) and headers, then
    each error answer given; `also` adds other success answers (e.g. 202 with its model)."""
    success: dict[str, Any] = {"description": "Success"}
    if body is not None:
        success["model"] = body
    if media_type != "application/json":
        types = (media_type,) if isinstance(media_type, str) else media_type
        schema = {"type": "string"} if types[0].startswith("text/") else BINARY
        success["content"] = {t: {"schema": schema} for t in types}
    headers = {**(VALIDATOR_HEADERS if validators else {}), **(LOCATION if created else {})}
    if headers:
        success["headers"] = headers
    responses: dict[int | str, dict[str, Any]] = {status: success}
    for code, model in (also or {}).items():
        responses[code] = {"model": model, "description": "Success", "headers": LOCATION}
    for code in errors:
        answer: dict[str, Any] = {"model": ErrorBody, "description": ERRORS[code]}
        if code == 401:
            answer["headers"] = CHALLENGE
        responses[code] = answer
    return {"response_model": None, "responses": responses}


def describe_errors_truly(app: FastAPI) -> None:
    """Drop the 422 answers FastAPI adds to every route with parameters: they name its own
    validation body, which this hub never sends (its 422 is `ErrorBody`, declared per route)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    answer = operation.get("responses", {}).get("422", {})
                    if "HTTPValidationError" in str(answer.get("content", "")):
                        del operation["responses"]["422"]
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
