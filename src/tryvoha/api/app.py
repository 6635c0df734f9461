"""The HTTP application: routers for each surface, error handling and the HTTP edge's registry."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import orjson
from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from tryvoha import __version__, compat
from tryvoha.api import attacks as attacks_api
from tryvoha.api import cap as cap_api
from tryvoha.api import errors, operator, public, streams
from tryvoha.api import stats as stats_api
from tryvoha.api import web as map_web
from tryvoha.api import webhooks as webhooks_api
from tryvoha.api.auth import ReadGate
from tryvoha.api.http_cache import BodyLimitMiddleware, ConditionalGetMiddleware
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import describe_errors_truly
from tryvoha.api.security import SecurityHeaders
from tryvoha.channels.lifespan import lifespan
from tryvoha.channels.streams.admission import SSE_PATH, WS_PATH, stream_short_cut
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.metrics import render as render_metrics
from tryvoha.server import Answer, Edge, Head, Limits
from tryvoha.server.bodies import Bodies
from tryvoha.server.conditional import HeadSecond, Validators
from tryvoha.views import compact_status

DESCRIPTION = """
An air-raid alert hub. Operators declare, update and end alerts with Bearer tokens scoped to their
regions; everyone reads the status, the active alerts, the history and the raw log.

Every error is JSON: `{"error": {"code": "...", "message": "..."}}`. Every GET carries `ETag` and
`Last-Modified` and answers `304` to a matching conditional request.
"""


def create_app(hub: Hub, settings: Settings | None = None, limits: Limits | None = None) -> FastAPI:
    """The hub's app; `app.state.edge` is what `tryvoha.serve.uvicorn_config` serves it with."""
    settings = settings or Settings()
    gate = ReadGate(hub, settings.read_token_required)
    edge = Edge(limits or Limits.from_env())
    app = FastAPI(
        title="tryvoha",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        lifespan=lifespan,  # webhook dispatcher, MQTT: see tryvoha.channels.lifespan
    )
    app.state.hub = hub
    app.state.settings = settings
    app.state.read_gate = gate
    app.state.edge = edge
    errors.install(app)
    describe_errors_truly(app)
    app.include_router(operator.router)
    app.include_router(public.router, dependencies=[Depends(gate.check)])
    app.include_router(stats_api.router, dependencies=[Depends(gate.check)])
    app.include_router(attacks_api.router, dependencies=[Depends(gate.check)])
    app.include_router(streams.router)  # read gate applied inside: WebSocket routes too
    app.include_router(webhooks_api.router)
    cap_api.install(app, hub, settings)  # signing keys, /.well-known/tryvoha-keys, CAP 1.2

    bodies = Bodies(lambda: hub.last_event_id)
    fresh = HeadSecond(hub)
    edge.validate(fresh)
    edge.poll(
        "/api/v1/status/compact",
        polled_view(
            bodies, "status-compact", fresh, lambda: orjson.dumps(compact_status(hub)), gate.allows
        ),
    )
    take = stream_short_cut(hub, gate.allows)
    edge.stream(SSE_PATH, take)
    edge.stream(WS_PATH, take)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: delivery latency per channel, subscribers, webhook backlog."""
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    map_web.install(app)  # the alarm map at `/`: explicit paths, after the API

    app.add_middleware(ConditionalGetMiddleware, edge=edge)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # CSP and friends on the map and the docs
    # alerts.in.ua + ukrainealarm APIs; its gate runs first
    compat.install(app, hub, edge, bodies=bodies, fresh=fresh)
    return app


def polled_view(
    bodies: Bodies,
    key: Hashable,
    validators: Validators,
    render: Callable[[], bytes],
    read_allowed: Callable[[dict[bytes, bytes]], bool],
) -> Callable[[Head], Answer | None]:
    """A short cut for a view without parameters, rendered once per log id; a query string or a
    refused read goes to the app (which renders the same bytes, or gives the refusal)."""

    def answer(head: Head) -> Answer | None:
        if head.query or not read_allowed(head.headers):
            return None
        headers = head.headers
        return bodies.get(key, render).answer(
            validators,
            headers.get(b"if-none-match"),
            headers.get(b"if-modified-since"),
            head.method == "HEAD",
        )

    return answer
