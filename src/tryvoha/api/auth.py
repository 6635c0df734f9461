"""Bearer tokens: operators' tokens name the originator and the regions they may touch;
read-only keys (for devices and apps) read everything and write nothing."""

from __future__ import annotations

import time

from fastapi import Request

from tryvoha.alerts.commands import Actor
from tryvoha.api.errors import ApiError
from tryvoha.readmodel import ReadModel
from tryvoha.store import TokenInfo, hash_token

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tryvoha"'}


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
    hub: ReadModel = request.app.state.model
    plain = bearer(request.headers.get("authorization"))
    if plain is None:
        raise ApiError(401, "token_missing", "send 'Authorization: Bearer <token>'", CHALLENGE)
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
    return actor_of(token)


class ReadGate:
    """Decides public reads when the hub is configured to require a token for them.

    Valid token hashes are cached for a few seconds so a polling storm costs no database reads.
    """

    def __init__(self, hub: ReadModel, required: bool, ttl: float = 5.0) -> None:
        self.hub = hub
        self.required = required
        self.ttl = ttl
        self._hashes: set[str] = set()
        self._loaded_at = 0.0

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at > self.ttl:
            self._hashes = self.hub.store.valid_token_hashes()
            self._loaded_at = now

    def allows(self, headers: dict[bytes, bytes]) -> bool:
        if not self.required:
            return True
        plain = bearer(headers.get(b"authorization", b"").decode("latin-1"))
        if plain is None:
            return False
        self._refresh()
        return hash_token(plain) in self._hashes

    async def check(self, request: Request) -> None:
        """FastAPI dependency for public read routes."""
        if not self.allows({k.lower().encode(): v.encode() for k, v in request.headers.items()}):
            raise ApiError(401, "token_required", "this hub requires a token for reads", CHALLENGE)
