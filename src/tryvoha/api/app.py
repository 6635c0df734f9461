"""The HTTP application: routers for each surface, error handling and polling caches."""

from __future__ import annotations

import orjson
from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from tryvoha import __version__, compat
from tryvoha.api import cap as cap_api
from tryvoha.api import errors, operator, proposals, public, streams
from tryvoha.api import stats as stats_api
from tryvoha.api import web as map_web
from tryvoha.api import webhooks as webhooks_api
from tryvoha.api.auth import ReadGate
from tryvoha.api.http_cache import BodyLimitMiddleware, CachedView, ConditionalGetMiddleware
from tryvoha.api.responses import JSONResponse
from tryvoha.channels.lifespan import lifespan
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.metrics import render as render_metrics
from tryvoha.views import compact_status

DESCRIPTION = """
An air-raid alert hub. Operators declare, update and end alerts with Bearer tokens scoped to their
regions; everyone reads the status, the active alerts, the history and the raw log.

Every error is JSON: `{"error": {"code": "...", "message": "..."}}`. Every GET carries `ETag` and
`Last-Modified` and answers `304` to a matching conditional request.
"""


def create_app(hub: Hub, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    gate = ReadGate(hub, settings.read_token_required)
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
    errors.install(app)
    app.include_router(operator.router)
    app.include_router(proposals.router)  # declarations waiting for a second operator
    app.include_router(public.router, dependencies=[Depends(gate.check)])
    app.include_router(stats_api.router, dependencies=[Depends(gate.check)])
    app.include_router(streams.router)  # read gate applied inside: WebSocket routes too
    app.include_router(webhooks_api.router)
    cap_api.install(app, hub, settings)  # signing keys, /.well-known/tryvoha-keys, CAP 1.2

    views: dict[str, CachedView] = {
        "/api/v1/status/compact": CachedView(
            "/api/v1/status/compact", lambda h: orjson.dumps(compact_status(h))
        ),
    }
    app.state.cached_views = views
    app.state.direct_answers = []

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: delivery latency per channel, subscribers, webhook backlog."""
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    map_web.install(app)  # the alarm map at `/`: explicit paths, after the API

    app.add_middleware(ConditionalGetMiddleware, hub=hub, views=views, read_allowed=gate.allows)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    compat.install(app, hub)  # alerts.in.ua + ukrainealarm APIs; its gate runs first
    return app
