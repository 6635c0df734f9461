"""The HTTP application: routers for each surface, error handling and the HTTP edge's registry."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from tryvoha import __version__, compat
from tryvoha.api import attacks as attacks_api
from tryvoha.api import cap as cap_api
from tryvoha.api import (
    delivery,
    errors,
    health,
    operator,
    operator_self,
    preview,
    proposals,
    public,
    streams,
)
from tryvoha.api import stats as stats_api
from tryvoha.api import web as map_web
from tryvoha.api import webhooks as webhooks_api
from tryvoha.api.auth import OperatorTokens, ReadGate
from tryvoha.api.http_cache import BodyLimitMiddleware, ConditionalGetMiddleware
from tryvoha.api.responses import JSONResponse
from tryvoha.api.schemas import describe_errors_truly
from tryvoha.api.security import SecurityHeaders
from tryvoha.channels.receipts import DeliveryReceipts
from tryvoha.channels.streams.admission import SSE_PATH, WS_PATH, stream_short_cut
from tryvoha.channels.streams.broadcaster import Broadcaster
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.metrics import render as render_metrics
from tryvoha.outlets import running
from tryvoha.readmodel import ReadModel
from tryvoha.server import Answer, Edge, Head
from tryvoha.server.bodies import Bodies
from tryvoha.server.conditional import HeadSecond, Validators
from tryvoha.signing.hub import Signing, open_signing

DESCRIPTION = """
An air-raid alert hub. Operators declare, update and end alerts with Bearer tokens scoped to their
regions; everyone reads the status, the active alerts, the history and the raw log.

Every error is JSON: `{"error": {"code": "...", "message": "..."}}`. Every GET carries `ETag` and
`Last-Modified` and answers `304` to a matching conditional request.
"""


def create_app(
    model: ReadModel, settings: Settings | None = None, signing: Signing | None = None
) -> FastAPI:
    """The HTTP app of one hub process over `model`; the operator API writes when `model` is the
    writer (`Hub`), and answers 503 on a node that only follows the log.

    `app.state.edge` is what `tryvoha.serve.uvicorn_config` serves it with; the app's lifespan
    (`tryvoha.outlets.running`) starts and stops the ways out."""
    settings = settings or Settings()
    writer = model if isinstance(model, Hub) else None
    if signing is None:
        signing = open_signing(settings, create=writer is not None)
    signing.follow(model)  # every live event signed once, at commit
    gate = ReadGate(model, settings.read_token_required)
    edge = Edge(settings.http)
    receipts = DeliveryReceipts(settings.receipts_keep)
    broadcaster = Broadcaster(model, settings.streams, signing, receipts)
    broadcaster.follow()
    app = FastAPI(
        title="tryvoha",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        lifespan=running,
        docs_url=None,  # served from the package by tryvoha.api.web, not from a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.model = model
    app.state.hub = writer
    app.state.settings = settings
    app.state.signing = signing
    app.state.broadcaster = broadcaster
    app.state.receipts = receipts
    app.state.read_gate = gate
    app.state.operator_tokens = OperatorTokens()
    app.state.edge = edge
    errors.install(app)
    describe_errors_truly(app)
    app.include_router(health.router)  # every node, without a token: for load balancers
    app.include_router(operator.router)
    app.include_router(proposals.router)  # declarations waiting for a second operator
    app.include_router(preview.router)  # what a declaration would do, writing nothing
    app.include_router(operator_self.router)  # what a token may touch, what it did
    app.include_router(delivery.router)  # what each channel did with an event
    app.include_router(public.router, dependencies=[Depends(gate.check)])
    app.include_router(stats_api.router, dependencies=[Depends(gate.check)])
    app.include_router(attacks_api.router, dependencies=[Depends(gate.check)])
    app.include_router(streams.router)  # read gate applied inside: WebSocket routes too
    app.include_router(webhooks_api.router)
    cap_api.install(app, model, settings, signing)  # /.well-known/tryvoha-keys, CAP 1.2

    bodies = app.state.bodies = Bodies(lambda: model.last_event_id)
    fresh = HeadSecond(model)
    edge.validate(fresh)
    for path, view in (
        ("/api/v1/status/compact", public.compact_view(model)),
        ("/api/v1/status", public.detailed_view(model)),
    ):
        edge.poll(path, polled_view(bodies, view, fresh, gate.allows))
    edge.poll(cap_api.FEED_PATH, cap_api.feed_short_cut(app.state.cap, fresh, gate.allows))
    take = stream_short_cut(model.catalogue, gate.allows, broadcaster.take)
    edge.stream(SSE_PATH, take)
    edge.stream(WS_PATH, take)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: delivery latency per channel, subscribers, webhook backlog,
        and the MQTT connection when MQTT is configured."""
        return Response(render_metrics(mqtt=bool(settings.mqtt)), media_type=CONTENT_TYPE_LATEST)

    map_web.install(app)  # the alarm map at `/`: explicit paths, after the API

    app.add_middleware(ConditionalGetMiddleware, edge=edge)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(
        SecurityHeaders, tile_url=settings.map_tile_url
    )  # CSP and friends on the map and the docs
    # alerts.in.ua + ukrainealarm APIs; its gate runs first
    compat.install(app, model, edge, settings.compat, settings.webhooks, bodies=bodies, fresh=fresh)
    return app


def polled_view(
    bodies: Bodies,
    view: public.View,
    validators: Validators,
    read_allowed: Callable[[dict[bytes, bytes]], bool],
) -> Callable[[Head], Answer | None]:
    """A short cut for a view without parameters, the very bytes the app's route keeps for it
    (`tryvoha.api.public`); a query string or a refused read goes to the app (which gives the
    same bytes, or the refusal)."""

    def answer(head: Head) -> Answer | None:
        if head.query or not read_allowed(head.headers):
            return None
        rendered = public.kept(bodies, view, head.headers.get(b"accept-encoding"))
        return rendered.answer(validators, *head.conditions)

    return answer
