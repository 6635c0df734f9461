"""Signing events: once per event, right after its commit, reused by every channel.

The signature is a pure function of the event, the hub id, the TTL and the key, so a channel that
re-renders an old event (a stream catching up from the log, a webhook retried after a restart)
gets the very same bytes back; the cache only saves the work.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from tryvoha.alerts.model import Event
from tryvoha.signing.canonical import SignedEvent, iso_ms, ms, parse_ms
from tryvoha.signing.keys import ALGORITHM, KeyFileError, Keyring

log = logging.getLogger(__name__)
WEBHOOK_HEADER = "Tryvoha-Signature-Ed25519"
DEFAULT_TTL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: str
    signed: bytes
    """The canonical bytes (see `tryvoha.signing.canonical`)."""
    value: bytes
    """64-byte Ed25519 signature of `signed`."""
    expires_at: int
    """ms since the epoch, as inside `signed`."""

    def doc(self) -> dict[str, Any]:
        """The `sig` object carried beside an event on streams and MQTT."""
        return {
            "alg": ALGORITHM,
            "key_id": self.key_id,
            "expires_at": iso_ms(self.expires_at),
            "signed": base64.b64encode(self.signed).decode(),
            "signature": base64.b64encode(self.value).decode(),
        }

    def header(self) -> str:
        """The webhook header value; the receiver rebuilds the bytes from the body's event."""
        value = base64.b64encode(self.value).decode()
        return f"keyid={self.key_id},exp={iso_ms(self.expires_at)},sig={value}"


class EventSigner:
    """Signs events with a keyring's active key; safe to call from any thread."""

    def __init__(
        self, keyring: Keyring, ttl: timedelta = DEFAULT_TTL, cache_size: int = 8192
    ) -> None:
        self.keyring = keyring
        self.ttl = ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, int], tuple[Signature, dict[str, Any]]] = OrderedDict()
        """By (log id, recorded_at ms): one signer serves one log, whose ids are never reused."""
        self._lock = threading.Lock()

    @property
    def hub_id(self) -> str:
        return self.keyring.hub_id

    def _refresh_keys(self) -> None:
        try:
            if self.keyring.refresh():
                log.warning("signing keys reloaded: active key %s", self.keyring.active_id)
        except KeyFileError as exc:
            log.error(
                "new signing keys cannot be used (%s); still signing with key %s",
                exc,
                self.keyring.active_id,
            )

    def sign(self, signed: SignedEvent) -> Signature:
        data = signed.encode()
        key_id, value = self.keyring.sign(data)
        return Signature(key_id, data, value, signed.expires_at)

    def _entry(self, make: SignedEvent) -> tuple[Signature, dict[str, Any]]:
        key = (make.log_id, make.recorded_at)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            self._refresh_keys()
            signature = self.sign(make)
            entry = (signature, signature.doc())
            self._cache[key] = entry
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return entry

    def signature(self, event: Event) -> Signature:
        """The event's signature, made on first request and cached."""
        hit = self._cache.get((event.id, ms(event.recorded_at)))
        if hit is not None:
            return hit[0]
        return self._entry(SignedEvent.of(event, self.hub_id, self.ttl))[0]

    def sig_doc(self, event: Event) -> dict[str, Any]:
        """The `sig` object for the event (the same dict every time: do not modify it)."""
        hit = self._cache.get((event.id, ms(event.recorded_at)))
        if hit is not None:
            return hit[1]
        return self._entry(SignedEvent.of(event, self.hub_id, self.ttl))[1]

    def on_event(self, event: Event) -> None:
        """Bus listener: sign at commit, before any channel asks."""
        self.signature(event)

    def webhook_header(self, body: bytes) -> str:
        """The Ed25519 header of a webhook body `{"event": …, "alert": …}`; equal to the one the
        event was first signed with, even when the body was stored before a restart."""
        doc = orjson.loads(body)["event"]
        recorded = parse_ms(doc["recorded_at"])
        hit = self._cache.get((doc["id"], recorded))
        if hit is not None:
            return hit[0].header()
        expires = iso_ms(recorded + self.ttl // timedelta(milliseconds=1))
        return self._entry(SignedEvent.from_doc(doc, self.hub_id, expires))[0].header()
