"""The hub's signatures as its channels need them, and where its keys live.

Start-up opens the key directory (`open_signing`); the `Signing` it returns signs every broadcast
event once, at commit (it listens on the read model), and every channel is handed that object:
`signed_event_doc(event)` for streams and MQTT (the one signed event document both carry),
`webhook_headers(body)` for webhooks. `Signing(None)` (a bare hub in a unit test) signs nothing.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tryvoha.alerts.model import Event
from tryvoha.alerts.wire import event_doc
from tryvoha.readmodel import ReadModel
from tryvoha.signing.capkey import CapKeySource
from tryvoha.signing.keys import Keyring
from tryvoha.signing.signer import WEBHOOK_HEADER, EventSigner
from tryvoha.store.url import database_of

if TYPE_CHECKING:
    from tryvoha.config import Settings

log = logging.getLogger(__name__)


def key_directory(settings: Settings) -> Path:
    """`--keys` / `TRYVOHA_KEYS`; else `<db>.keys` beside a SQLite file (`tryvoha.db` →
    `tryvoha.keys`); else one directory per database under `$XDG_DATA_HOME/tryvoha/keys/` for a
    database server: two logs must never share a hub id."""
    if settings.keys:
        return Path(settings.keys).expanduser()
    db = database_of(settings.db_url)
    if db.file is not None:
        return db.file.with_name(db.file.stem + ".keys")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tryvoha" / "keys" / re.sub(r"[^A-Za-z0-9._-]", "_", db.label)


class Signing:
    """One signer, and the safe ways channels use it: signing never stands in the way of
    delivery; should it fail, the event goes out unsigned (receivers refuse it as such)."""

    def __init__(self, signer: EventSigner | None, cap_keys: CapKeySource | None = None) -> None:
        self.signer = signer
        self.cap_keys = cap_keys

    def follow(self, model: ReadModel) -> None:
        """Sign every live event of `model` as it is committed, before any channel asks."""
        if self.signer is not None:
            model.subscribe(self.signer.on_event)

    def sig_doc(self, event: Event) -> dict[str, Any] | None:
        """The event's `sig` object, or None when unsigned."""
        if self.signer is None:
            return None
        try:
            return self.signer.sig_doc(event)
        except Exception:
            log.exception("event %d could not be signed; it goes out unsigned", event.id)
            return None

    def signed_event_doc(self, event: Event) -> dict[str, Any]:
        """`event_doc` with its `sig` object: what streams and MQTT carry."""
        doc = event_doc(event)
        sig = self.sig_doc(event)
        if sig is not None:
            doc["sig"] = sig
        return doc

    def webhook_headers(self, body: bytes) -> dict[str, str]:
        """The Ed25519 header for a webhook body (none when unsigned)."""
        if self.signer is None:
            return {}
        try:
            return {WEBHOOK_HEADER: self.signer.webhook_header(body)}
        except Exception:
            log.exception("a webhook body could not be signed; it goes out with its HMAC only")
            return {}


UNSIGNED = Signing(None)


def open_signing(settings: Settings, *, create: bool = True) -> Signing:
    """The hub's event keys (made on first start when `create`) and its CAP key source. Raises
    `KeyFileError` saying what to do with a key file it must not use."""
    keyring = Keyring.open(key_directory(settings), create=create, hub_id=settings.hub_id)
    signer = EventSigner(keyring, timedelta(seconds=settings.signature_ttl))
    key = Path(settings.cap_key).expanduser() if settings.cap_key else None
    cert = Path(settings.cap_cert).expanduser() if settings.cap_cert else None
    cap_keys = CapKeySource(key_directory(settings), signer.hub_id, key, cert)
    return Signing(signer, cap_keys)
