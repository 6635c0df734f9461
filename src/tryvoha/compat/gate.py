"""The front door of both compatible surfaces: keys, rate limits and pre-rendered hot answers.

For every request under the alerts.in.ua prefix (`/v1/`, `/v2/`) or `/api/v3/` the key and the
key's rate limit are checked first; then the polled views (IoT strings, active alerts, one
region, the last-action index) are answered from bytes rendered once per log id. The same
`Compat.answer` serves them at the parser (`answer_now`, when the key's check is cached) and in
the app (`CompatGate`, an ASGI middleware that also gives every refusal). Everything else goes on
to the routers with the key in `request.state.compat_token`.

A view is found by what it shows, never by the spelling of its path: `…/0031.json` and
`…/31.json` are the same region and the same cached body, and nothing is cached for a request
whose key was not accepted.

alerts.in.ua answers carry `Last-Modified` from `ModifiedClock` and become 304 only when
`If-Modified-Since` equals it exactly (or `If-None-Match` the ETag): the `ExactMatch` policy.
ukrainealarm answers carry the validators of tryvoha's own API (`HeadSecond`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from tryvoha.compat import alerts_in_ua as aiu
from tryvoha.compat import ukrainealarm as ua
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.config import CompatConfig
from tryvoha.compat.errors import error_body
from tryvoha.compat.ids import crosswalk
from tryvoha.compat.keys import KeyCheck
from tryvoha.compat.ratelimit import RateLimiter
from tryvoha.readmodel import ReadModel
from tryvoha.server import Answer, Head
from tryvoha.server.answers import JSON, Header, send_asgi
from tryvoha.server.bodies import Bodies
from tryvoha.server.conditional import ExactMatch, HeadSecond, Validators
from tryvoha.store import TokenInfo

AIU, UA = 1, 2
UA_PREFIX = "/api/v3/"


@dataclass(frozen=True, slots=True)
class HotView:
    """What a polled path shows: a canonical key for its cached body, how to render it, and the
    validator policy of its surface."""

    key: Hashable
    render: Callable[[], bytes]
    validators: Validators


class Compat:
    """Everything the compatible surfaces share in one app: config, clock, limiter, keys, views."""

    def __init__(
        self,
        hub: ReadModel,
        config: CompatConfig,
        clock: ModifiedClock,
        bodies: Bodies | None = None,
        fresh: Validators | None = None,
        limiter: RateLimiter | None = None,
        keys: KeyCheck | None = None,
    ) -> None:
        self.hub = hub
        self.config = config
        self.clock = clock
        self.bodies = bodies or Bodies(lambda: hub.last_event_id)
        self.limiter = limiter or RateLimiter()
        self.keys = keys or KeyCheck(hub, config.key_cache_seconds)
        self.exact = ExactMatch(lambda: clock.current()[1])
        self.fresh = fresh or HeadSecond(hub)
        self.aiu_v1 = config.prefix + "/v1/"
        self.aiu_v2 = config.prefix + "/v2/"
        self.history_prefix = self.aiu_v1 + "regions/"
        p1, p2 = self.aiu_v1, self.aiu_v2

        def exact(key: str, render: Callable[[ReadModel], bytes]) -> HotView:
            return HotView(key, partial(render, hub), self.exact)

        self.fixed: dict[str, HotView] = {
            p1 + aiu.ACTIVE: HotView(
                "aiu-active", partial(aiu.render_active, hub, clock), self.exact
            ),
            p1 + aiu.BY_OBLAST: exact("aiu-oblasts-1", partial(aiu.render_by_oblast, levels=False)),
            p2 + aiu.BY_OBLAST: exact("aiu-oblasts-2", partial(aiu.render_by_oblast, levels=True)),
            p1 + aiu.ALL_LOCATIONS: exact(
                "aiu-locations-1", partial(aiu.render_all_locations, levels=False)
            ),
            p2 + aiu.ALL_LOCATIONS: exact(
                "aiu-locations-2", partial(aiu.render_all_locations, levels=True)
            ),
            UA_PREFIX + "alerts": HotView("ua-alerts", partial(ua.render_alerts, hub), self.fresh),
            UA_PREFIX + "alerts/status": HotView(
                "ua-status", partial(ua.render_status, hub), self.fresh
            ),
            UA_PREFIX + "regions": HotView(
                "ua-regions", partial(ua.render_regions, hub), self.fresh
            ),
        }

    def surface_of(self, path: str) -> int | None:
        if path.startswith(self.aiu_v1) or path.startswith(self.aiu_v2):
            return AIU
        if path.startswith(UA_PREFIX) or path == "/api/v3":
            return UA
        return None

    def view(self, path: str) -> HotView | None:
        """The hot view a path shows, or None; creates nothing that outlives the call."""
        found = self.fixed.get(path)
        if found is not None:
            return found
        hub = self.hub
        cw = crosswalk(hub.catalogue)
        for prefix, levels in ((self.aiu_v1, False), (self.aiu_v2, True)):
            head = prefix + aiu.ONE_LOCATION
            if path.startswith(head) and path.endswith(".json"):
                region = aiu.parse_uid(cw, path[len(head) : -5])
                if region is None:
                    return None
                render = partial(aiu.render_location, hub, region.id, levels)
                return HotView(("aiu-location", levels, region.id), render, self.exact)
        head = UA_PREFIX + "alerts/"
        if path.startswith(head):
            region = cw.by_ua_id.get(path[len(head) :])
            if region is None:
                return None
            render = partial(ua.render_region, hub, region.id)
            return HotView(("ua-region", region.id), render, self.fresh)
        return None

    def answer(
        self,
        view: HotView,
        if_none_match: bytes | None,
        if_modified_since: bytes | None,
        head_only: bool,
    ) -> Answer:
        """A hot view's answer: its bytes, or 304 on its surface's rules."""
        rendered = self.bodies.get(view.key, view.render)
        return rendered.answer(view.validators, if_none_match, if_modified_since, head_only)

    def limit(self, surface: int, path: str, token: TokenInfo | None, client_ip: str) -> int | None:
        """Seconds to wait when the key (or, keyless, the address) is over its rate, else None."""
        config = self.config
        limiter = self.limiter
        if surface == AIU:
            assert token is not None
            if path.startswith(self.history_prefix):
                return limiter.check(("aiu-history", token.id), config.aiu_history_per_minute, 60)
            return limiter.check(("aiu", token.id), config.aiu_per_minute, 60)
        if token is not None:
            return limiter.check(("ua", token.id), config.ua_per_minute, 60)
        return limiter.check(("keyless", client_ip), config.keyless_per_5min, 300)


def key_of(auth: bytes | None, query: bytes) -> str | None:
    """The API key a request carries: in `Authorization` (bare, Bearer or Token) or `?token=`."""
    if auth:
        text = auth.decode("latin-1").strip()
        scheme, _, rest = text.partition(" ")
        if rest and scheme.lower() in ("bearer", "token"):
            text = rest.strip()
        if text:
            return text
    if query and b"token=" in query:
        values = parse_qs(query.decode("latin-1")).get("token")
        return values[0] if values else None
    return None


def refusal(status: int, code: str, message: str, headers: Sequence[Header] = ()) -> Answer:
    """An error answer in the shape both surfaces' clients read (see `compat.errors`)."""
    body = error_body(code, message)
    return status, [(b"content-type", JSON), (b"content-length", b"%d" % len(body)), *headers], body


def too_many(retry: int) -> Answer:
    return refusal(
        429,
        "rate_limited",
        f"too many requests; retry in {retry} s",
        [(b"retry-after", b"%d" % retry)],
    )


def key_missing(surface: int) -> Answer:
    if surface == UA:
        return refusal(403, "key_required", "send your API key")
    message = "API token required: 'Authorization: Bearer <token>' or '?token=<token>'"
    return refusal(401, "token_missing", message)


KEY_UNKNOWN = refusal(401, "token_invalid", "the token is unknown to this hub or was revoked")


def answer_now(compat: Compat, head: Head) -> Answer | None:
    """The edge's short cut for both surfaces: the answer to a poll of a hot view when all it
    needs is at hand (a cached key check), or None to send the request the ordinary way."""
    surface = compat.surface_of(head.path)
    if surface is None:
        return None
    plain = key_of(head.headers.get(b"authorization"), head.query)
    if plain is None:
        if surface != UA or not compat.config.keyless:
            return key_missing(surface)
        token = None
    else:
        known, token = compat.keys.cached(plain)
        if not known:
            return None
        if token is None:
            return KEY_UNKNOWN
    view = compat.view(head.path)
    if view is None:
        return None
    retry = compat.limit(surface, head.path, token, head.client)
    if retry is not None:
        return too_many(retry)
    return compat.answer(view, *head.conditions)


class CompatGate:
    """The same door in the app: checks every key (from the store when not cached), limits, and
    answers hot views; routed requests go on with the key in the scope's state."""

    def __init__(self, app: ASGIApp, compat: Compat) -> None:
        self.app = app
        self.compat = compat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        compat = self.compat
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        surface = compat.surface_of(path)
        if surface is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        plain = key_of(headers.get(b"authorization"), scope.get("query_string", b""))
        token = None
        if plain is None:
            if surface != UA or not compat.config.keyless:
                await send_asgi(send, key_missing(surface))
                return
        else:
            token = await compat.keys.token(plain)
            if token is None:
                await send_asgi(send, KEY_UNKNOWN)
                return
        client = scope.get("client")
        retry = compat.limit(surface, path, token, client[0] if client else "?")
        if retry is not None:
            await send_asgi(send, too_many(retry))
            return
        method = scope["method"]
        if method == "GET" or method == "HEAD":
            view = compat.view(path)
            if view is not None:
                inm, ims = headers.get(b"if-none-match"), headers.get(b"if-modified-since")
                await send_asgi(send, compat.answer(view, inm, ims, method == "HEAD"))
                return
        scope.setdefault("state", {})["compat_token"] = token
        await self.app(scope, receive, send)
