"""CAP 1.2 over HTTP, and the hub's public keys.

- `GET /.well-known/tryvoha-keys`: every Ed25519 key (with its validity window) and the CAP
  signing certificate; always public, whatever the read gate says.
- `GET /api/v1/cap/{log id or identifier}.xml`: one signed CAP message, immutable.
- `GET /api/v1/cap/feed.atom?region=…&status=…`: the Atom index of messages in force and recent;
  the national feed without a query is answered at the parser (`feed_short_cut`) when it is at
  hand, as aggregators poll it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response

from tryvoha.alerts.model import AlertStatus
from tryvoha.api.errors import ApiError
from tryvoha.api.schemas import documented
from tryvoha.channels.cap.feeds import FeedRequest
from tryvoha.channels.cap.message import CapIdentity, parse_identifier
from tryvoha.channels.cap.service import CapService
from tryvoha.config import Settings
from tryvoha.readmodel import ReadModel
from tryvoha.server.answers import Answer
from tryvoha.server.bodies import Rendered
from tryvoha.server.conditional import Validators
from tryvoha.server.shortcuts import Head, Polled
from tryvoha.signing.capkey import CapKeySource
from tryvoha.signing.hub import Signing
from tryvoha.signing.keys import KeyFileError
from tryvoha.signing.signer import EventSigner

T = TypeVar("T")
log = logging.getLogger(__name__)
WELL_KNOWN = "/.well-known/tryvoha-keys"
CAP_MEDIA = "application/cap+xml"
ATOM_MEDIA = "application/atom+xml; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"
FEED_PATH = "/api/v1/cap/feed.atom"
NATIONAL = FeedRequest(None, ("actual",))

keys_router = APIRouter(tags=["signatures"])
router = APIRouter(prefix="/api/v1/cap", tags=["cap"])


class KeysDocument:
    """The published keys, re-rendered only when the key directory changed."""

    def __init__(self, signer: EventSigner, cap_keys: CapKeySource) -> None:
        self.signer = signer
        self.cap_keys = cap_keys
        self._cached: tuple[tuple[object, ...], bytes, str] | None = None

    def current(self) -> tuple[bytes, str]:
        ring = self.signer.keyring
        ring.refresh()
        cap = self.cap_keys.get()
        stamp = (ring.hub_id, ring.active_id, tuple(ring.public), cap.cert_pem)
        if self._cached is None or self._cached[0] != stamp:
            doc = {
                **ring.published(),
                "signature": {
                    "format": "TRYVEVT1",
                    "formats": ["TRYVEVT1", "TRYVEVT2"],  # layout 2: retractions, approvals
                    "ttl_seconds": int(self.signer.ttl.total_seconds()),
                    "docs": "docs/signatures.md",
                },
                "cap": cap.doc(),
            }
            body = orjson.dumps(doc)
            etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            self._cached = (stamp, body, etag)
        return self._cached[1], self._cached[2]


def _hub(request: Request) -> ReadModel:
    return request.app.state.model


async def _signing(work: Awaitable[T]) -> T:
    """A key the hub cannot use is the operator's problem to fix (the log says which and how);
    the caller gets a plain 503."""
    try:
        return await work
    except KeyFileError:
        log.exception("CAP or key document unavailable")
        raise ApiError(
            503, "signing_unavailable", "the hub cannot sign right now; its operator is told why"
        ) from None


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    return header is not None and etag in [t.strip().removeprefix("W/") for t in header.split(",")]


@keys_router.get(
    WELL_KNOWN,
    summary="The hub's public signing keys (Ed25519 and CAP)",
    **documented(None, 503),
)
async def public_keys(request: Request) -> Response:
    """Verify signed events with these keys (docs/signatures.md): a key signs nothing recorded
    after its `valid_until`. `cap.certificate` signs the CAP messages (XML-DSig)."""
    document: KeysDocument = request.app.state.keys_document
    body, etag = await _signing(_hub(request).read(document.current))
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def feed_short_cut(
    service: CapService,
    validators: Validators,
    read_allowed: Callable[[dict[bytes, bytes]], bool],
) -> Polled:
    """The national feed for a poll without a query, answered at the parser with the bytes and
    validators the route gives, when it is at hand (`CapService.feed_at_hand`). Anything else
    (a query, a refused read, a feed that needs the store) goes to the route."""

    def answer(head: Head) -> Answer | None:
        if head.query or not read_allowed(head.headers) or not service.primed:
            return None
        feed = service.feed_at_hand(NATIONAL)
        if feed is None:
            return None
        rendered = Rendered(feed.body, feed.etag.encode(), b"%d" % len(feed.body))
        return rendered.answer(validators, *head.conditions, content_type=ATOM_MEDIA.encode())

    return answer


@router.get(
    "/feed.atom",
    summary="Atom feed of CAP messages in force and recent",
    **documented(None, 401, 404, 422, 503, media_type="application/atom+xml"),
)
async def feed(
    request: Request,
    region: Annotated[
        str | None,
        Query(max_length=40, description="A region id: its alerts, those within it and above it."),
    ] = None,
    status: Annotated[
        list[AlertStatus] | None,
        Query(max_length=3, description="actual (default), exercise, test; repeat for several."),
    ] = None,
) -> Response:
    hub = _hub(request)
    if region is not None and region not in hub.catalogue:
        raise ApiError(404, "unknown_region", f"no region with id {region!r}")
    statuses = tuple(sorted({s.value for s in status})) if status else ("actual",)
    wanted = FeedRequest(region, statuses)
    service: CapService = request.app.state.cap
    if not service.primed:  # once per process: no thread hop on every new log id after
        await hub.read(service.prime)
    answer = service.feed_at_hand(wanted)
    if answer is None:
        answer = await hub.read(service.feed, wanted, service.snapshot(wanted))
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache"}
    if _not_modified(request, answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=ATOM_MEDIA, headers=headers)


@router.get(
    "/{ref}.xml",
    summary="One signed CAP 1.2 message",
    **documented(None, 401, 404, 503, media_type=CAP_MEDIA),
)
async def message(request: Request, ref: str) -> Response:
    """`ref` is the event's log id or its CAP identifier (`urn:tryvoha:<hub>:event:<id>`). The
    document never changes: cache it for good."""
    service: CapService = request.app.state.cap
    log_id = parse_identifier(service.identity.hub_id, ref)
    if log_id is None:
        raise ApiError(
            404,
            "unknown_message",
            "give a log id or an identifier of this hub "
            f"(urn:tryvoha:{service.identity.hub_id}:event:<log id>)",
        )
    body = await _signing(_hub(request).read(service.message, log_id))
    if body is None:
        raise ApiError(404, "unknown_message", f"the log has no event {log_id}")
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CAP_MEDIA, headers=headers)


def public_url(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def install(app: FastAPI, hub: ReadModel, settings: Settings, signing: Signing) -> None:
    """Add the CAP and key routes, signing CAP with the key `signing` names."""
    assert signing.signer is not None and signing.cap_keys is not None
    identity = CapIdentity(signing.signer.hub_id, signing.signer.hub_id, public_url(settings))
    app.state.cap = CapService(hub, identity, signing.cap_keys)
    app.state.keys_document = KeysDocument(signing.signer, signing.cap_keys)
    app.include_router(keys_router)
    app.include_router(router, dependencies=[Depends(app.state.read_gate.check)])
