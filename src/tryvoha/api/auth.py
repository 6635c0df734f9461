"""Bearer tokens: operators' tokens name the originator and the regions they may touch;
read-only keys (for devices and apps) read everything and write nothing."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import replace

from fastapi import Request

from tryvoha.alerts.commands import Actor
from tryvoha.api.errors import CHALLENGE, ApiError
from tryvoha.readmodel import ReadModel
from tryvoha.store import TokenInfo, hash_token

log = logging.getLogger(__name__)


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def actor_of(token: TokenInfo) -> Actor:
    return Actor(
        originator=f"token:{token.name}", scopes=token.scopes, drills_only=token.drills_only
    )


async def operator(request: Request) -> Actor:
    """FastAPI dependency: the actor behind the request's Bearer token; 401 without a valid
    token, 403 for a read-only key (every route that depends on this one writes or manages)."""
    return actor_of(await _operator_token(request.app.state.model, _plain(request)))


class OperatorTokens:
    """Operator tokens seen valid, by hash: a command's token costs no database read before
    the command is queued. Safe because the writer checks every command's token again just
    before the transaction that would commit it (`Actor.credential`): a token revoked while it
    is held here commits nothing, and is forgotten here when it is refused. Only tokens that
    were valid when read are held, so made-up ones cannot fill it; at most `limit` (1 ..
    100,000), the longest held going first."""

    def __init__(self, limit: int = 1024) -> None:
        if not 1 <= limit <= 100_000:
            raise ValueError(f"limit is 1 .. 100,000, not {limit}")
        self.limit = limit
        self._held: dict[str, TokenInfo] = {}

    def __len__(self) -> int:
        return len(self._held)

    def get(self, digest: str) -> TokenInfo | None:
        return self._held.get(digest)

    def keep(self, digest: str, token: TokenInfo) -> None:
        if digest not in self._held and len(self._held) >= self.limit:
            del self._held[next(iter(self._held))]
        self._held[digest] = token

    def forget(self, digest: str) -> None:
        self._held.pop(digest, None)


async def commander(request: Request) -> Actor:
    """FastAPI dependency of the routes that submit commands: `operator`, answered from the
    tokens held (`OperatorTokens`) when it is among them, and with the token's hash as the
    actor's `credential`, which the writer checks at commit."""
    plain = _plain(request)
    digest = hash_token(plain)
    held: OperatorTokens = request.app.state.operator_tokens
    token = held.get(digest)
    if token is None:
        token = await _operator_token(request.app.state.model, plain)
        held.keep(digest, token)
    return replace(actor_of(token), credential=digest)


def _plain(request: Request) -> str:
    plain = bearer(request.headers.get("authorization"))
    if plain is None:
        raise ApiError(401, "token_missing", "send 'Authorization: Bearer <token>'", CHALLENGE)
    return plain


async def _operator_token(hub: ReadModel, plain: str) -> TokenInfo:
    """The operator token `plain` names, read from the store; 401 or 403 if it is none."""
    token = await hub.read(hub.store.token_by_plaintext, plain)
    if token is None:
        raise ApiError(401, "token_invalid", "the token is not known to this hub", CHALLENGE)
    if token.revoked_at is not None:
        raise ApiError(401, "token_revoked", f"token {token.name!r} was revoked", CHALLENGE)
    if token.read_only:
        raise ApiError(
            403,
            "token_read_only",
            f"token {token.name!r} is a read-only key: it reads, but may not declare, change or "
            "end alerts nor manage webhooks",
        )
    return token


class ReadGate:
    """Decides public reads when the hub is configured to require a token for them.

    Valid token hashes are held in memory so a polling storm costs no database reads. They are
    loaded when the gate is made (before serving) and reloaded on the hub's reader pool once they
    are `ttl` seconds old, while reads go on with the ones held: a read never waits for the
    database on the event loop. A token missing from them may be newer than the last load: the
    async check then waits for a load that began after the request came in (loads for such
    misses are shared, at most one per `MISS_INTERVAL`), so a new key reads at once and a
    spray of made-up keys costs a few database reads a second, not one each.
    """

    MISS_INTERVAL = 1.0

    def __init__(self, hub: ReadModel, required: bool, ttl: float = 5.0) -> None:
        self.hub = hub
        self.required = required
        self.ttl = ttl
        self._hashes: frozenset[str] = frozenset()
        self._loaded_at = -math.inf
        """When the load that gave `_hashes` began (monotonic)."""
        self._started_at = -math.inf
        self._loading: asyncio.Task[None] | None = None
        if required:
            self._load_now()

    def _load_now(self) -> None:
        started = time.monotonic()
        self._hashes = frozenset(self.hub.store.valid_token_hashes())
        self._loaded_at = started

    def _reload(self) -> asyncio.Task[None] | None:
        """The load under way, or a new one on the reader pool; None without a running loop."""
        if self._loading is not None and not self._loading.done():
            return self._loading
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the server (a script, a test): nothing to block
            self._load_now()
            return None
        self._started_at = time.monotonic()
        self._loading = loop.create_task(self._load(self._started_at))
        return self._loading

    async def _load(self, started: float) -> None:
        try:
            hashes = await self.hub.read(self.hub.store.valid_token_hashes)
        except Exception:
            log.exception("could not reload token hashes; reads keep the ones loaded before")
            return
        if started > self._loaded_at:
            self._hashes, self._loaded_at = frozenset(hashes), started

    def _known(self, digest: str) -> bool:
        if time.monotonic() - self._loaded_at > self.ttl:
            self._reload()
        return digest in self._hashes

    def allows(self, headers: dict[bytes, bytes]) -> bool:
        """The hashes held decide; never waits (the streams' and polling fast paths)."""
        if not self.required:
            return True
        plain = bearer(headers.get(b"authorization", b"").decode("latin-1"))
        return plain is not None and self._known(hash_token(plain))

    async def _known_since(self, digest: str, moment: float) -> bool:
        """Whether `digest` is valid per a load that began after `moment`."""
        for _ in range(3):  # a failing database is not waited on forever
            if self._loaded_at >= moment:
                break
            loading = self._loading
            if loading is None or loading.done() or self._started_at < moment:
                if loading is not None and not loading.done():
                    await asyncio.shield(loading)  # began too early: let it finish first
                wait = self._started_at + self.MISS_INTERVAL - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            loading = self._reload()
            if loading is not None:
                await asyncio.shield(loading)
        return digest in self._hashes

    async def check(self, request: Request) -> None:
        """FastAPI dependency for public read routes."""
        if not self.required:
            return
        arrived = time.monotonic()
        plain = bearer(request.headers.get("authorization"))
        if plain is not None:
            digest = hash_token(plain)
            if self._known(digest) or await self._known_since(digest, arrived):
                return
        raise ApiError(401, "token_required", "this hub requires a token for reads", CHALLENGE)
