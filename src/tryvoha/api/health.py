"""`GET /api/v1/health` on every node (writer, standby, edge): role, position, lag, staleness.

Not behind the read gate: load balancers and monitors ask it without a token. 200 while the
node's answers are current, 503 while they may be old (`tryvoha.cluster.health`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import ErrorBody
from tryvoha.cluster.health import writer_health

router = APIRouter(prefix="/api/v1", tags=["health"])


class NatsState(BaseModel):
    connected: bool
    relay_lag_events: int | None = Field(None, description="Writer: committed, not yet stored.")
    last_error: str | None = None
    last_error_at: str | None = None
    resets: int | None = Field(None, description="Edge: consumers re-created so far.")
    epoch: str | None = Field(None, description="Edge: the stream's creation time.")


class Health(BaseModel):
    role: Literal["writer", "standby", "edge"]
    stale: bool = Field(description="True when this node's answers may be old (then 503).")
    reason: str | None = Field(description="Why it is stale, for people.")
    last_applied_id: int = Field(description="The last log id this node's state holds.")
    stream_last_seq: int | None = Field(
        description="The JetStream stream's last sequence (= log id) as last seen; null when "
        "the node does not use NATS or has not heard from it."
    )
    lag_events: int = Field(description="Events in the stream this node has not applied.")
    lag_seconds: float = Field(description="Since the node last held everything it knew of.")
    stale_since: str | None = Field(description="UTC, ISO 8601; null while fresh.")
    nats: NatsState | None


@router.get(
    "/health",
    summary="This node's role, its position in the log, its lag, and whether it is stale",
    response_model=Health,
    responses={
        503: {
            "model": ErrorBody,
            "description": "The node is stale, its answers may be old: `error.code` is `stale`, "
            "`error.message` says why, and every field of the 200 answer is there too.",
        }
    },
)
async def health(request: Request) -> Response:
    """200 while this node is current, 503 while it is stale: an edge whose NATS feed is
    disconnected or silent, or behind the stream for longer than `TRYVOHA_MAX_LAG` seconds (the
    503 carries the same fields, and the usual `error` object with code `stale`).
    The writer holds the log and is never stale; it reports its relay to JetStream."""
    state = request.app.state
    edge = getattr(state, "edge_health", None)
    if edge is not None:
        doc = edge.doc()
    else:
        relay = getattr(state, "relay", None)
        hub = state.hub
        writing = hub is not None and hub.is_writer
        role = getattr(state, "role", None) or ("writer" if writing else "standby")
        doc = writer_health(role, state.model.last_event_id, relay.status() if relay else None)
    if not doc["stale"]:
        return JSONResponse(doc)
    error = {"code": "stale", "message": doc["reason"]}
    return JSONResponse({"error": error, **doc}, status_code=503)
