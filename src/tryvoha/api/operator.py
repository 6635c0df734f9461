"""Operator API: declare, update, end and retract alerts. Thin: parse, hand to the hub, shape the
answer. (Proposals, the declarations that wait for a second operator: `tryvoha.api.proposals`.)

The ranges every value must lie in are `tryvoha.alerts.ranges`; the models below state them so
the OpenAPI document shows them, and the domain (`tryvoha.alerts.commands`) enforces them for
every caller alike, with an error code per rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import (
    Actor,
    AlertRef,
    Command,
    Declare,
    DeclareMany,
    End,
    Rejected,
    Retract,
    Update,
)
from tryvoha.alerts.model import AlertStatus, Detail, Threat
from tryvoha.api.auth import OperatorTokens, commander
from tryvoha.api.errors import ApiError
from tryvoha.api.schemas import Change, Changes, Proposed, documented
from tryvoha.hub import Hub, not_the_writer

router = APIRouter(prefix="/api/v1", tags=["operator"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=ranges.MAX_KEY,
        description="Repeat a request with the same key to get the first answer, byte for byte; "
        f"nothing is written twice. {ranges.KEY_RULE[0].upper()}{ranges.KEY_RULE[1:]}.",
        json_schema_extra={"pattern": "^[ -~]{1,200}$"},
    ),
]
CommandActor = Annotated[Actor, Depends(commander)]
"""The operator of a route that submits a command (its token checked again at commit)."""
AlertId = Annotated[
    int, Path(ge=1, le=ranges.MAX_ID, description=f"An alert's id, 1 to {ranges.MAX_ID}.")
]
RegionId = Annotated[str, Path(max_length=ranges.MAX_REGION_ID, description="Region id.")]
DrillStatus = Annotated[
    AlertStatus, Query(description="Which of the region's open alerts: actual, exercise or test.")
]
TIME_RULE = (
    "ISO 8601 with a UTC offset ('Z' or '+02:00'), from 2000-01-01T00:00Z and at most 5 minutes "
    "ahead of the hub's clock; no older than the region's last event."
)
Notes = Field(
    default=None,
    max_length=ranges.MAX_NOTES,
    description=f"Free text shown with the alert: {ranges.NOTES_RULE}.",
    json_schema_extra={"pattern": ranges.NOTES_PATTERN},
)


Reason = Field(
    description=f"Why (kept in the log; shown to operators): {ranges.REASON_RULE}.",
    json_schema_extra={"maxLength": ranges.MAX_REASON, "pattern": ranges.NOTES_PATTERN},
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareBody(Strict):
    region_id: str | None = Field(
        default=None,
        description="Region id, e.g. an oblast's KATOTTG code. Or `region_ids`, not both.",
        max_length=ranges.MAX_REGION_ID,
    )
    region_ids: list[str] | None = Field(
        default=None,
        description=f"Several regions for one threat at once (1 to {ranges.MAX_REGIONS}, each "
        "once, none inside another): every declaration is committed, or none is (the refusal "
        "names the region). Answers `{events, alerts}`.",
        json_schema_extra={"minItems": 1, "maxItems": ranges.MAX_REGIONS},
    )
    threat: Threat = Threat.AIR_RAID
    details: list[Detail] = Field(default_factory=list, description="Air-raid details only.")
    status: AlertStatus = AlertStatus.ACTUAL
    notes: str | None = Notes
    occurred_at: datetime | None = Field(
        default=None,
        description=f"When the operator declared it; the hub's clock if omitted. {TIME_RULE}",
    )


class UpdateBody(Strict):
    details: list[Detail] | None = None
    notes: str | None = Notes
    clear_notes: bool = False
    occurred_at: datetime | None = Field(default=None, description=TIME_RULE)


class EndBody(Strict):
    occurred_at: datetime | None = Field(default=None, description=TIME_RULE)


class RetractBody(Strict):
    reason: str = Reason
    occurred_at: datetime | None = Field(default=None, description=TIME_RULE)


def writer_of(request: Request) -> Hub:
    """The hub's writer, or 503 on a node that only follows the log."""
    hub: Hub | None = request.app.state.hub
    if hub is None:
        raise ApiError(
            503,
            "not_the_writer",
            "this node follows the log and takes no commands: send them to the hub's writer",
        )
    if not hub.is_writer:
        raise not_the_writer(
            "this node is a standby writer (or lost the writer lock) and takes no commands now: "
            "retry after the Retry-After seconds, here or at the other writer"
        )
    return hub


async def run_command(
    request: Request, command: Command, actor: Actor, key: str | None
) -> Response:
    """Submit to the hub and answer with its status, body and `Location`."""
    hub = writer_of(request)
    try:
        outcome = await hub.submit(command, actor, key)
    except Rejected as refused:
        if refused.code == "token_revoked" and actor.credential is not None:
            held: OperatorTokens = request.app.state.operator_tokens
            held.forget(actor.credential)  # the next request reads the store again
        raise
    headers = {}
    if outcome.location is not None:
        headers["Location"] = outcome.location
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        outcome.body,
        status_code=outcome.status_code,
        headers=headers,
        media_type="application/json",
    )


@router.post(
    "/alerts",
    status_code=201,
    summary="Declare an alert (one region or several)",
    **documented(
        Change | Changes,
        401,
        403,
        404,
        409,
        413,
        422,
        503,
        status=201,
        created=True,
        also={202: Proposed},
    ),
)
async def declare(
    request: Request, body: DeclareBody, actor: CommandActor, key: IdempotencyKey = None
) -> Response:
    """Declare an alert for a region (`region_id`; answers 201 `{event, alert}`) or for several
    at once (`region_ids`; 201 `{events, alerts}`). A declaration the second-person rule catches
    (docs/operators.md) waits as a proposal: 202 `{proposal, rule}`, `Location` the proposal."""
    if (body.region_id is None) == (body.region_ids is None):
        raise ApiError(
            422, "region_missing", "name the region: region_id, or region_ids (not both)"
        )
    command: Command
    if body.region_ids is not None:
        command = DeclareMany(
            region_ids=tuple(body.region_ids),
            threat=body.threat,
            status=body.status,
            details=tuple(body.details),
            notes=body.notes,
            occurred_at=body.occurred_at,
        )
    else:
        assert body.region_id is not None
        command = Declare(
            region_id=body.region_id,
            threat=body.threat,
            status=body.status,
            details=tuple(body.details),
            notes=body.notes,
            occurred_at=body.occurred_at,
        )
    return await run_command(request, command, actor, key)


@router.patch(
    "/alerts/{alert_id}",
    summary="Update an open alert's details or notes",
    **documented(Change, 401, 403, 409, 413, 422, 503),
)
async def update_by_id(
    request: Request,
    alert_id: AlertId,
    body: UpdateBody,
    actor: CommandActor,
    key: IdempotencyKey = None,
) -> Response:
    return await run_command(request, _update(AlertRef(alert_id=alert_id), body), actor, key)


@router.post(
    "/alerts/{alert_id}/end",
    summary="End an open alert",
    **documented(Change, 401, 403, 409, 413, 422, 503),
)
async def end_by_id(
    request: Request,
    alert_id: AlertId,
    actor: CommandActor,
    key: IdempotencyKey = None,
    body: Annotated[EndBody | None, Body()] = None,
) -> Response:
    command = End(AlertRef(alert_id=alert_id), occurred_at=body.occurred_at if body else None)
    return await run_command(request, command, actor, key)


RETRACT_DOC = """End an open alert because it was issued in error. The event (`retracted`) carries
your `reason` and a correction text the hub writes from the alert (Ukrainian and English); every
channel carries it, and every surface drops the alert at once. Same scope rules as ending."""


@router.post(
    "/alerts/{alert_id}/retract",
    summary="Retract an alert issued in error",
    description=RETRACT_DOC,
    **documented(Change, 401, 403, 409, 413, 422, 503),
)
async def retract_by_id(
    request: Request,
    alert_id: AlertId,
    body: RetractBody,
    actor: CommandActor,
    key: IdempotencyKey = None,
) -> Response:
    command = Retract(AlertRef(alert_id=alert_id), body.reason, occurred_at=body.occurred_at)
    return await run_command(request, command, actor, key)


@router.patch(
    "/regions/{region_id}/alerts/{threat}",
    summary="Update the open alert of a region and threat",
    **documented(Change, 401, 403, 404, 409, 413, 422, 503),
)
async def update_by_region(
    request: Request,
    region_id: RegionId,
    threat: Threat,
    body: UpdateBody,
    actor: CommandActor,
    key: IdempotencyKey = None,
    status: DrillStatus = AlertStatus.ACTUAL,
) -> Response:
    ref = AlertRef(region_id=region_id, threat=threat, status=status)
    return await run_command(request, _update(ref, body), actor, key)


@router.post(
    "/regions/{region_id}/alerts/{threat}/end",
    summary="End the open alert of a region and threat",
    **documented(Change, 401, 403, 404, 409, 413, 422, 503),
)
async def end_by_region(
    request: Request,
    region_id: RegionId,
    threat: Threat,
    actor: CommandActor,
    key: IdempotencyKey = None,
    status: DrillStatus = AlertStatus.ACTUAL,
    body: Annotated[EndBody | None, Body()] = None,
) -> Response:
    ref = AlertRef(region_id=region_id, threat=threat, status=status)
    command = End(ref, occurred_at=body.occurred_at if body else None)
    return await run_command(request, command, actor, key)


@router.post(
    "/regions/{region_id}/alerts/{threat}/retract",
    summary="Retract the open alert of a region and threat, issued in error",
    description=RETRACT_DOC,
    **documented(Change, 401, 403, 404, 409, 413, 422, 503),
)
async def retract_by_region(
    request: Request,
    region_id: RegionId,
    threat: Threat,
    body: RetractBody,
    actor: CommandActor,
    key: IdempotencyKey = None,
    status: DrillStatus = AlertStatus.ACTUAL,
) -> Response:
    ref = AlertRef(region_id=region_id, threat=threat, status=status)
    command = Retract(ref, body.reason, occurred_at=body.occurred_at)
    return await run_command(request, command, actor, key)


def _update(ref: AlertRef, body: UpdateBody) -> Update:
    return Update(
        ref=ref,
        details=None if body.details is None else tuple(body.details),
        notes=body.notes,
        clear_notes=body.clear_notes,
        occurred_at=body.occurred_at,
    )
