"""Where a hub's signer lives and how channels reach it.

Start-up opens the key directory and attaches one `EventSigner` to the hub; it listens on the bus
so every broadcast event is signed at commit. Channels ask `sig_doc(hub, event)` and get the cached
signature object (None on a hub without keys, e.g. a bare `Hub` in a unit test).
"""

from __future__ import annotations

import logging
import os
import re
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tryvoha.alerts.model import Event
from tryvoha.alerts.wire import event_doc
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.signing.capkey import CapKeySource
from tryvoha.signing.keys import KeyFileError, Keyring
from tryvoha.signing.signer import DEFAULT_TTL, WEBHOOK_HEADER, EventSigner

log = logging.getLogger(__name__)
_signers: weakref.WeakKeyDictionary[Hub, EventSigner] = weakref.WeakKeyDictionary()
_cap_keys: weakref.WeakKeyDictionary[Hub, CapKeySource] = weakref.WeakKeyDictionary()
TTL_RANGE = (10, 86_400)


def key_directory(settings: Settings) -> Path:
    """`--keys` / `TRYVOHA_KEYS`; else `<db>.keys` beside a SQLite file (`tryvoha.db` →
    `tryvoha.keys`); else one directory per database under `$XDG_DATA_HOME/tryvoha/keys/` for a
    database server: two logs must never share a hub id."""
    if settings.keys:
        return Path(settings.keys).expanduser()
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database).expanduser()
        return db.with_name(db.stem + ".keys")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    name = "-".join(
        str(part)
        for part in (url.get_backend_name(), url.host or "local", url.port, url.database)
        if part
    )
    return Path(data) / "tryvoha" / "keys" / re.sub(r"[^A-Za-z0-9._-]", "_", name)


def signature_ttl() -> timedelta:
    """`TRYVOHA_SIGNATURE_TTL` seconds (10 to 86,400; default 300): how long after its commit a
    signed event is fresh. Receivers refuse it as expired afterwards."""
    raw = os.environ.get("TRYVOHA_SIGNATURE_TTL")
    if raw is None:
        return DEFAULT_TTL
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if not TTL_RANGE[0] <= seconds <= TTL_RANGE[1]:
        raise KeyFileError(
            f"TRYVOHA_SIGNATURE_TTL must be whole seconds from {TTL_RANGE[0]} to {TTL_RANGE[1]}, "
            f"not {raw!r}"
        )
    return timedelta(seconds=seconds)


def attach(hub: Hub, signer: EventSigner) -> EventSigner:
    """Make `signer` the hub's: it signs every broadcast event at commit."""
    _signers[hub] = signer
    hub.bus.subscribe(signer.on_event)
    return signer


def open_signer(hub: Hub, settings: Settings, *, create: bool = True) -> EventSigner:
    """The hub's signer, opening (and on first start making) its keys if not yet attached."""
    signer = _signers.get(hub)
    if signer is None:
        keyring = Keyring.open(key_directory(settings), create=create, hub_id=settings.hub_id)
        signer = attach(hub, EventSigner(keyring, signature_ttl()))
    return signer


def cap_key_source(hub: Hub, settings: Settings, hub_id: str) -> CapKeySource:
    """The CAP signing key: `--cap-key`/`--cap-cert` when given, else made in the key directory;
    the one `start_signing` already loaded, if it did."""
    loaded = _cap_keys.get(hub)
    if loaded is not None:
        return loaded
    key = Path(settings.cap_key).expanduser() if settings.cap_key else None
    cert = Path(settings.cap_cert).expanduser() if settings.cap_cert else None
    return CapKeySource(key_directory(settings), hub_id, key, cert)


def start_signing(hub: Hub, settings: Settings) -> EventSigner:
    """At start-up: open (on first start, make) the event keys and the CAP key, so the first
    alert and the first CAP request wait for nothing. Raises `KeyFileError` with what to do."""
    signer = open_signer(hub, settings)
    source = cap_key_source(hub, settings, signer.hub_id)
    source.get()
    _cap_keys[hub] = source
    return signer


def signer_for(hub: Hub) -> EventSigner | None:
    return _signers.get(hub)


def sig_doc(hub: Hub, event: Event) -> dict[str, Any] | None:
    """The event's `sig` object, or None when the hub has no signer. Signing never stands in the
    way of delivery: should it fail, the event goes out unsigned (receivers refuse it as such)."""
    signer = _signers.get(hub)
    if signer is None:
        return None
    try:
        return signer.sig_doc(event)
    except Exception:
        log.exception("event %d could not be signed; it goes out unsigned", event.id)
        return None


def signed_event_doc(hub: Hub, event: Event) -> dict[str, Any]:
    """`event_doc` with its `sig` object: what streams and MQTT carry."""
    doc = event_doc(event)
    sig = sig_doc(hub, event)
    if sig is not None:
        doc["sig"] = sig
    return doc


def webhook_headers(hub: Hub, body: bytes) -> dict[str, str]:
    """The Ed25519 header for a webhook body (none when the hub has no signer)."""
    signer = _signers.get(hub)
    if signer is None:
        return {}
    try:
        return {WEBHOOK_HEADER: signer.webhook_header(body)}
    except Exception:
        log.exception("a webhook body could not be signed; it goes out with its HMAC only")
        return {}
