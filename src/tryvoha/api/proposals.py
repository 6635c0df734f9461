"""Proposals: declarations that wait for a second operator (docs/operators.md).

Only operators see them, and only those whose tokens cover a proposal's whole area (and its
proposer): a proposal is in the log but on no public surface until it is approved. Approving and
rejecting are commands like any other (`Hub.submit`), with the same Idempotency-Key rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from tryvoha.alerts import ranges
from tryvoha.alerts.commands import Actor, Approve, Reject, may_decide
from tryvoha.alerts.model import Proposal, ProposalState
from tryvoha.alerts.wire import iso, proposal_doc
from tryvoha.api.auth import actor_of, operator
from tryvoha.api.errors import ApiError
from tryvoha.api.operator import CommandActor, IdempotencyKey, Strict, run_command, writer_of
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import Decision, ProposalDetail, Proposals, documented
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import TokenInfo

router = APIRouter(prefix="/api/v1", tags=["operator: proposals"])
OperatorActor = Annotated[Actor, Depends(operator)]
ProposalId = Annotated[
    int, Path(ge=1, le=ranges.MAX_ID, description=f"A proposal's id, 1 to {ranges.MAX_ID}.")
]


class RejectBody(Strict):
    reason: str = Field(
        description=f"Why it must not go out (kept in the log): {ranges.REASON_RULE}.",
        json_schema_extra={"maxLength": ranges.MAX_REASON, "pattern": ranges.NOTES_PATTERN},
    )


def visible(catalogue: Catalogue, actor: Actor, proposal: Proposal) -> bool:
    """Its proposer sees it, and so does every operator who could approve it."""
    return actor.originator == proposal.proposed_by or may_decide(catalogue, actor, proposal)


def approvers(catalogue: Catalogue, tokens: list[TokenInfo], proposal: Proposal) -> list[str]:
    """The operators (by originator) who could approve: live operator tokens covering the whole
    area in actual mode, other than the proposer."""
    names = []
    for token in tokens:
        if token.revoked_at is not None or token.read_only:
            continue
        actor = actor_of(token)
        if actor.originator != proposal.proposed_by and may_decide(catalogue, actor, proposal):
            names.append(actor.originator)
    return names


def view(hub: Hub, actor: Actor, proposal: Proposal, now: datetime) -> dict[str, Any]:
    """The proposal as this operator sees it: `state` says `expired` as soon as the deadline
    has passed (the hub's `expired` events follow within moments)."""
    doc = proposal_doc(proposal)
    if proposal.is_pending and proposal.deadline <= now:
        doc["state"] = ProposalState.EXPIRED.value
    doc["rule"] = hub.policy.why(
        hub.catalogue, proposal.region_ids, proposal.threat, proposal.status
    )
    doc["can_approve"] = (
        doc["state"] == ProposalState.PENDING.value
        and actor.originator != proposal.proposed_by
        and may_decide(hub.catalogue, actor, proposal)
    )
    return doc


def _find(hub: Hub, actor: Actor, proposal_id: int) -> Proposal:
    proposal = hub.state.proposals.get(proposal_id)
    if proposal is None:
        raise ApiError(404, "unknown_proposal", f"no proposal with id {proposal_id}")
    if not visible(hub.catalogue, actor, proposal):
        raise ApiError(
            403,
            "proposal_out_of_scope",
            f"proposal {proposal_id} covers regions this token's regions do not all cover",
        )
    return proposal


@router.get(
    "/proposals",
    summary="Proposals this token may see, newest first",
    **documented(Proposals, 401, 422, 503),
)
async def list_proposals(
    request: Request,
    actor: OperatorActor,
    state: Annotated[
        Literal["pending", "all"],
        Query(description="`pending` (default), or `all`: also the latest decided ones."),
    ] = "pending",
) -> JSONResponse:
    hub = writer_of(request)
    hub.arm_expiry()
    now = hub.clock()
    found = [
        view(hub, actor, p, now)
        for p in hub.proposals()
        if visible(hub.catalogue, actor, p) and (state == "all" or p.is_pending)
    ]
    return JSONResponse(
        {"proposals": found, "log_id": hub.last_event_id, "now": iso(now)},
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/proposals/{proposal_id}",
    summary="One proposal, with who may approve it",
    **documented(ProposalDetail, 401, 403, 404, 422, 503),
)
async def get_proposal(request: Request, proposal_id: ProposalId, actor: OperatorActor) -> Response:
    hub = writer_of(request)
    hub.arm_expiry()
    proposal = _find(hub, actor, proposal_id)
    doc = view(hub, actor, proposal, hub.clock())
    tokens = await hub.read(hub.store.list_tokens)
    doc["approvers"] = approvers(hub.catalogue, tokens, proposal)
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


@router.post(
    "/proposals/{proposal_id}/approve",
    status_code=201,
    summary="Approve a proposal: its alerts go out",
    **documented(Decision, 401, 403, 404, 409, 413, 422, 503, status=201),
)
async def approve(
    request: Request, proposal_id: ProposalId, actor: CommandActor, key: IdempotencyKey = None
) -> Response:
    """A different operator than the proposer, whose token covers the whole area, sends the
    proposal out: one `declared` event per region (originator: the approver; `proposed_by`: the
    proposer; `proposal_id`), in one transaction. Answers 201 `{proposal, events, alerts}`.
    Refused: 403 `approval_by_proposer`, 403 `proposal_out_of_scope`, 404 `unknown_proposal`,
    409 `proposal_expired`, 409 `proposal_decided`."""
    return await run_command(request, Approve(proposal_id), actor, key)


@router.post(
    "/proposals/{proposal_id}/reject",
    summary="Reject a proposal: nothing goes out",
    **documented(Decision, 401, 403, 404, 409, 413, 422, 503),
)
async def reject(
    request: Request,
    proposal_id: ProposalId,
    body: RejectBody,
    actor: CommandActor,
    key: IdempotencyKey = None,
) -> Response:
    """The proposer (withdrawing it) or an operator who could approve it. Answers 200
    `{proposal}`; one `rejected` event per region carries the reason."""
    return await run_command(request, Reject(proposal_id, body.reason), actor, key)
