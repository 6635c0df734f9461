"""Proof of origin for every alert: Ed25519 signatures over a documented byte form of each event
(docs/signatures.md), and the checks a receiver makes.

Verifying, in Python:

    from tryvoha.signing import KeySet, ReplayGuard, verify_event, verify_webhook

    keys = KeySet.fetch("https://hub.example")            # /.well-known/tryvoha-keys
    guard = ReplayGuard()                                  # one per hub you listen to
    ok = verify_event(orjson.loads(sse_data), keys, guard=guard)
    ok.event.kind, ok.event.region_id, ok.event.threat     # read from the signed bytes
    verify_webhook(request_body, request_headers, keys, guard=guard)

Each raises `VerificationError` with a `reason` (`bad_signature`, `expired`, `replayed`, …).
"""

from tryvoha.signing.canonical import MalformedSignedEvent, SignedEvent
from tryvoha.signing.keys import KeyFileError, Keyring, key_id_of
from tryvoha.signing.signer import WEBHOOK_HEADER, EventSigner, Signature
from tryvoha.signing.verify import (
    REASONS,
    KeySet,
    ReplayGuard,
    VerificationError,
    Verified,
    verify_event,
    verify_signed,
    verify_webhook,
)

__all__ = [
    "REASONS",
    "WEBHOOK_HEADER",
    "EventSigner",
    "KeyFileError",
    "KeySet",
    "Keyring",
    "MalformedSignedEvent",
    "ReplayGuard",
    "Signature",
    "SignedEvent",
    "VerificationError",
    "Verified",
    "key_id_of",
    "verify_event",
    "verify_signed",
    "verify_webhook",
]
