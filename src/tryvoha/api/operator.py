"""Operator API: declare, update and end alerts. Thin: parse, hand to the hub, shape the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from tryvoha.alerts.commands import MAX_NOTES, Actor, AlertRef, Command, Declare, End, Update
from tryvoha.alerts.model import AlertStatus, Detail, Threat
from tryvoha.api.auth import operator
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Change, documented
from tryvoha.hub import Hub

router = APIRouter(prefix="/api/v1", tags=["operator"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a request with the same key to get the first answer; nothing is "
        "written twice.",
    ),
]
OperatorActor = Annotated[Actor, Depends(operator)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareBody(Strict):
    region_id: str = Field(description="Region id, e.g. an oblast's KATOTTG code.", max_length=32)
    threat: Threat = Threat.AIR_RAID
    details: list[Detail] = Field(default_factory=list, description="Air-raid details only.")
    status: AlertStatus = AlertStatus.ACTUAL
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    occurred_at: datetime | None = Field(
        default=None, description="When the operator declared it; the hub's clock if omitted."
    )


class UpdateBody(Strict):
    details: list[Detail] | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    clear_notes: bool = False
    occurred_at: datetime | None = None


class EndBody(Strict):
    occurred_at: datetime | None = None


async def _run(request: Request, command: Command, actor: Actor, key: str | None) -> JSONResponse:
    hub: Hub = request.app.state.hub
    outcome = await hub.submit(command, actor, key)
    headers = {"Location": f"/api/v1/alerts/{outcome.body['alert']['id']}"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


@router.post(
    "/alerts",
    status_code=201,
    summary="Declare an alert",
    **documented(Change, 401, 403, 404, 409, 413, 422, status=201, created=True),
)
async def declare(
    request: Request, body: DeclareBody, actor: OperatorActor, key: IdempotencyKey = None
) -> JSONResponse:
    """Declare an alert for a region and threat. Answers 201 with the event and the alert."""
    command = Declare(
        region_id=body.region_id,
        threat=body.threat,
        status=body.status,
        details=tuple(body.details),
        notes=body.notes,
        occurred_at=body.occurred_at,
    )
    return await _run(request, command, actor, key)


@router.patch(
    "/alerts/{alert_id}",
    summary="Update an open alert's details or notes",
    **documented(Change, 401, 403, 409, 413, 422),
)
async def update_by_id(
    request: Request,
    alert_id: int,
    body: UpdateBody,
    actor: OperatorActor,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return await _run(request, _update(AlertRef(alert_id=alert_id), body), actor, key)


@router.post(
    "/alerts/{alert_id}/end",
    summary="End an open alert",
    **documented(Change, 401, 403, 409, 413, 422),
)
async def end_by_id(
    request: Request,
    alert_id: int,
    actor: OperatorActor,
    key: IdempotencyKey = None,
    body: Annotated[EndBody | None, Body()] = None,
) -> JSONResponse:
    command = End(AlertRef(alert_id=alert_id), occurred_at=body.occurred_at if body else None)
    return await _run(request, command, actor, key)


@router.patch(
    "/regions/{region_id}/alerts/{threat}",
    summary="Update the open alert of a region and threat",
    **documented(Change, 401, 403, 404, 409, 413, 422),
)
async def update_by_region(
    request: Request,
    region_id: str,
    threat: Threat,
    body: UpdateBody,
    actor: OperatorActor,
    key: IdempotencyKey = None,
    status: AlertStatus = AlertStatus.ACTUAL,
) -> JSONResponse:
    ref = AlertRef(region_id=region_id, threat=threat, status=status)
    return await _run(request, _update(ref, body), actor, key)


@router.post(
    "/regions/{region_id}/alerts/{threat}/end",
    summary="End the open alert of a region and threat",
    **documented(Change, 401, 403, 404, 409, 413, 422),
)
async def end_by_region(
    request: Request,
    region_id: str,
    threat: Threat,
    actor: OperatorActor,
    key: IdempotencyKey = None,
    status: AlertStatus = AlertStatus.ACTUAL,
    body: Annotated[EndBody | None, Body()] = None,
) -> JSONResponse:
    ref = AlertRef(region_id=region_id, threat=threat, status=status)
    return await _run(request, End(ref, occurred_at=body.occurred_at if body else None), actor, key)


def _update(ref: AlertRef, body: UpdateBody) -> Update:
    return Update(
        ref=ref,
        details=None if body.details is None else tuple(body.details),
        notes=body.notes,
        clear_notes=body.clear_notes,
        occurred_at=body.occurred_at,
    )
