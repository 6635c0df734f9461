"""Checking a signed event the way a receiver must: key, signature, hub, key window, the fields
beside the signature, freshness and order. Every refusal names its reason.

    keys = KeySet.fetch("https://hub.example/.well-known/tryvoha-keys")
    guard = ReplayGuard()
    verified = verify_event(orjson.loads(sse_data), keys, guard=guard)   # or VerificationError
    verified.event.region_id, verified.event.kind
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tryvoha.signing.canonical import MalformedSignedEvent, SignedEvent, iso_ms, ms
from tryvoha.signing.keys import ALGORITHM, key_id_of
from tryvoha.signing.signer import WEBHOOK_HEADER

REASONS = {
    "malformed": "not a signed tryvoha event",
    "unsigned": "carries no signature",
    "unknown_key": "signed with a key this hub does not publish",
    "bad_signature": "the signature does not match (altered, forged or wrong key)",
    "wrong_hub": "signed for another hub",
    "key_retired": "recorded after its key was retired",
    "mismatch": "the fields beside the signature differ from the signed ones",
    "expired": "expired",
    "replayed": "already seen (replayed)",
    "reordered": "older than a message already accepted (reordered)",
}


class VerificationError(Exception):
    """A refused message; `reason` is one of `REASONS`."""

    def __init__(self, reason: str, detail: str = "", log_id: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.log_id = log_id
        super().__init__(f"{REASONS[reason]}{': ' + detail if detail else ''}")


@dataclass(frozen=True, slots=True)
class Verified:
    event: SignedEvent
    key_id: str
    missed: int = 0
    """Log ids skipped since the last accepted message (a gap, not an error: a filtered
    subscription sees only some events)."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key_id: str
    key: Ed25519PublicKey
    valid_until: int | None
    """ms; the key signs nothing recorded later."""


class KeySet:
    """A hub's published keys (`/.well-known/tryvoha-keys`), the trust a verifier starts from."""

    def __init__(self, hub: str, keys: Mapping[str, TrustedKey]) -> None:
        self.hub = hub
        self.keys = dict(keys)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> KeySet:
        """Raises ValueError naming what is wrong with the document."""
        try:
            hub = doc["hub"]
            keys: dict[str, TrustedKey] = {}
            for k in doc["keys"]:
                if k["algorithm"] != ALGORITHM:
                    continue
                raw = base64.b64decode(k["public_key"], validate=True)
                if len(raw) != 32 or key_id_of(raw) != k["key_id"]:
                    raise ValueError(f"key {k['key_id']!r} does not match its public key")
                until = k.get("valid_until")
                keys[k["key_id"]] = TrustedKey(
                    k["key_id"],
                    Ed25519PublicKey.from_public_bytes(raw),
                    None if until is None else ms(_parse(until)),
                )
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"not a tryvoha key document: {exc}") from exc
        if not isinstance(hub, str) or not keys:
            raise ValueError("not a tryvoha key document: no hub or no Ed25519 key")
        return cls(hub, keys)

    @classmethod
    def from_json(cls, data: bytes | str) -> KeySet:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the key document is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise ValueError("the key document is not a JSON object")
        return cls.from_doc(doc)

    @classmethod
    def load(cls, path: Path | str) -> KeySet:
        return cls.from_json(Path(path).read_bytes())

    @classmethod
    def fetch(cls, url: str, timeout: float = 10.0) -> KeySet:
        """The keys a hub publishes; give the hub's base URL or the full well-known URL."""
        return cls.from_doc(fetch_key_document(url, timeout))

    def check(self, key_id: str, signed: bytes, signature: bytes) -> SignedEvent:
        """The signed event, if `signature` is this hub's over `signed` with `key_id`."""
        key = self.keys.get(key_id)
        if key is None:
            raise VerificationError("unknown_key", f"key id {key_id!r}")
        try:
            key.key.verify(signature, signed)
        except InvalidSignature:
            raise VerificationError("bad_signature", f"key {key_id}") from None
        try:
            event = SignedEvent.decode(signed)
        except MalformedSignedEvent as exc:  # signed by the key but not an event: refuse
            raise VerificationError("malformed", str(exc)) from None
        if event.hub != self.hub:
            raise VerificationError("wrong_hub", f"{event.hub!r}, not {self.hub!r}", event.log_id)
        if key.valid_until is not None and event.recorded_at > key.valid_until:
            raise VerificationError("key_retired", f"key {key_id}", event.log_id)
        return event


def fetch_key_document(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET a hub's `/.well-known/tryvoha-keys` (redirects are not followed); raises ValueError
    naming the problem."""
    if "/.well-known/" not in url:
        url = url.rstrip("/") + "/.well-known/tryvoha-keys"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise ValueError(f"{url} answered HTTP {response.status_code}")
    try:
        doc = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{url} did not answer JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    KeySet.from_doc(doc)
    return doc


class ReplayGuard:
    """What a receiver remembers of one hub: the highest log id accepted and which of the
    `window` ids below it were seen. A repeat is a replay; an unseen id below the highest is a
    message that arrived out of order; an id at or below `last_seen` (what the receiver knew when
    it started) or below the window is treated as a replay."""

    def __init__(self, last_seen: int = 0, window: int = 1024) -> None:
        self.highest = last_seen
        self.floor = last_seen
        self.window = window
        self.seen: set[int] = set()

    def check(self, log_id: int) -> int:
        """How many ids were skipped since the last accepted one (0 at the very first);
        raises `VerificationError` for a replay or a reordering."""
        if log_id > self.highest:
            return log_id - self.highest - 1 if self.highest else 0
        if log_id in self.seen or log_id <= max(self.floor, self.highest - self.window):
            detail = f"log id {log_id}, already accepted up to {self.highest}"
            raise VerificationError("replayed", detail, log_id)
        raise VerificationError("reordered", f"log id {log_id} after {self.highest}", log_id)

    def accept(self, log_id: int) -> None:
        self.highest = max(self.highest, log_id)
        self.seen.add(log_id)
        if len(self.seen) > 2 * self.window:
            floor = self.highest - self.window
            self.seen = {i for i in self.seen if i > floor}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError("malformed", f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise VerificationError("malformed", f"{what} is not base64") from None


def _now_ms(now: datetime | None) -> int:
    return ms(now or datetime.now(UTC))


def _finish(
    event: SignedEvent,
    key_id: str,
    doc: Mapping[str, Any] | None,
    now: datetime | None,
    guard: ReplayGuard | None,
) -> Verified:
    if doc is not None:
        differ = event.differences(dict(doc))
        if differ:
            raise VerificationError("mismatch", ", ".join(differ), event.log_id)
    if _now_ms(now) > event.expires_at:
        detail = f"was fresh until {iso_ms(event.expires_at)}"
        raise VerificationError("expired", detail, event.log_id)
    missed = 0
    if guard is not None:
        missed = guard.check(event.log_id)
        guard.accept(event.log_id)
    return Verified(event, key_id, missed)


def verify_signed(
    keys: KeySet,
    key_id: str,
    signed: bytes,
    signature: bytes,
    *,
    now: datetime | None = None,
    guard: ReplayGuard | None = None,
) -> Verified:
    """The raw form: canonical bytes and a signature (what a device receives)."""
    return _finish(keys.check(key_id, signed, signature), key_id, None, now, guard)


def verify_event(
    doc: Mapping[str, Any],
    keys: KeySet,
    *,
    now: datetime | None = None,
    guard: ReplayGuard | None = None,
) -> Verified:
    """An event document with its `sig` object: an SSE or WebSocket `alert`, an MQTT event."""
    if not isinstance(doc, Mapping):
        raise VerificationError("malformed", "not a JSON object")
    sig = doc.get("sig")
    if sig is None:
        raise VerificationError("unsigned", log_id=doc.get("id"))
    if not isinstance(sig, Mapping) or sig.get("alg") != ALGORITHM:
        raise VerificationError("malformed", "sig is not an Ed25519 signature object")
    key_id = sig.get("key_id")
    if not isinstance(key_id, str):
        raise VerificationError("malformed", "sig.key_id is missing")
    signed = _b64(sig.get("signed"), "sig.signed")
    signature = _b64(sig.get("signature"), "sig.signature")
    event = keys.check(key_id, signed, signature)
    fields = {k: v for k, v in doc.items() if k not in ("sig", "type")}
    return _finish(event, key_id, fields, now, guard)


def parse_header(value: str) -> dict[str, str]:
    parts = {}
    for item in value.split(","):
        name, sep, content = item.strip().partition("=")
        if sep:
            parts[name.strip()] = content.strip()
    return parts


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    keys: KeySet,
    *,
    now: datetime | None = None,
    guard: ReplayGuard | None = None,
) -> Verified:
    """A webhook delivery: the raw body and its headers (any case). Checks the Ed25519 header;
    the HMAC header is the subscription's own business (see `channels.webhooks.verify`)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header = lowered.get(WEBHOOK_HEADER.lower())
    if header is None:
        raise VerificationError("unsigned", f"no {WEBHOOK_HEADER} header")
    parts = parse_header(header)
    key_id, expires = parts.get("keyid"), parts.get("exp")
    if not key_id or not expires:
        raise VerificationError("malformed", f"{WEBHOOK_HEADER} needs keyid, exp and sig")
    signature = _b64(parts.get("sig"), "sig")
    try:
        doc = orjson.loads(body)["event"]
        signed = SignedEvent.from_doc(doc, keys.hub, expires).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError, MalformedSignedEvent) as exc:
        raise VerificationError("malformed", f"body: {exc}") from None
    event = keys.check(key_id, signed, signature)
    return _finish(event, key_id, None, now, guard)
