"""What an operator's token is: `GET /api/v1/operator/me` (its regions, its mode, whether it may
approve) and `GET /api/v1/operator/actions` (its own recent events). The console shows both, so
the person at the keyboard sees what this token may touch before touching anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import Actor
from tryvoha.alerts.correction import correction_text
from tryvoha.alerts.model import AlertStatus
from tryvoha.alerts.wire import event_doc
from tryvoha.api.auth import operator
from tryvoha.api.errors import ApiError
from tryvoha.api.operator import writer_of
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Actions, Correction, TokenSelf, documented
from tryvoha.readmodel import ReadModel

router = APIRouter(prefix="/api/v1/operator", tags=["operator"])
OperatorActor = Annotated[Actor, Depends(operator)]
RECENT_WINDOW = 5000
"""The newest log events searched for a token's own actions: bounded, whatever the log's size."""
MAX_ACTIONS = 200


@router.get(
    "/me",
    summary="What this token may touch: its regions, its mode, whether it may approve",
    **documented(TokenSelf, 401, 403, 503),
)
async def me(request: Request, actor: OperatorActor) -> JSONResponse:
    hub = writer_of(request)
    scopes = None
    if actor.scopes is not None:
        scopes = []
        for scope in actor.scopes:
            region = hub.catalogue.get(scope) if scope in hub.catalogue else None
            scopes.append(
                {
                    "id": scope,
                    "level": None if region is None else region.level.value,
                    "name_uk": None if region is None else region.name_uk,
                    "name_en": None if region is None else region.name_en,
                }
            )
    statuses = [s for s in AlertStatus if not actor.drills_only or s is not AlertStatus.ACTUAL]
    policy = hub.policy
    doc: dict[str, Any] = {
        "name": actor.originator.removeprefix("token:"),
        "originator": actor.originator,
        "scopes": scopes,
        "mode": "drills_only" if actor.drills_only else "all",
        "statuses": [s.value for s in statuses],
        "may_approve": not actor.drills_only,
        "approval_rule": {
            "threats": sorted(t.value for t in policy.threats),
            "max_oblasts": policy.max_oblasts,
            "levels": sorted(level.value for level in policy.levels),
            "ttl_seconds": int(policy.ttl.total_seconds()),
        },
    }
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


@router.get(
    "/actions",
    summary="This token's own recent events, newest first",
    **documented(Actions, 401, 403, 422),
)
async def actions(
    request: Request,
    actor: OperatorActor,
    limit: Annotated[int, Query(ge=1, le=MAX_ACTIONS, description="1 to 200.")] = 50,
) -> JSONResponse:
    """Events this token wrote (or proposed) among the newest 5,000 of the log."""
    model: ReadModel = request.app.state.model
    head = model.last_event_id
    start = max(0, head - RECENT_WINDOW)
    found = await model.read(model.store.events_after, start, RECENT_WINDOW)
    own = [e for e in found if actor.originator in (e.originator, e.proposed_by)]
    own.reverse()
    return JSONResponse(
        {"events": [event_doc(e) for e in own[:limit]], "log_id": head},
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/alerts/{alert_id}/correction",
    summary="The bilingual correction a retraction of this open alert would carry",
    **documented(Correction, 401, 403, 404, 422, 503),
)
async def correction(
    request: Request,
    actor: OperatorActor,
    alert_id: Annotated[int, Path(ge=1, le=ranges.MAX_ID, description="An open alert's id.")],
) -> JSONResponse:
    """The very text `POST /api/v1/alerts/{id}/retract` would put in the `retracted` event (the
    hub writes it from the alert), so the person retracting reads it before confirming."""
    hub = writer_of(request)
    alert = hub.open_alert(alert_id)
    if alert is None:
        raise ApiError(404, "alert_not_open", f"alert {alert_id} is not open")
    return JSONResponse(
        {"alert_id": alert.id, "correction": correction_text(hub.catalogue, alert)},
        headers={"Cache-Control": "no-store"},
    )
