"""Signed events: the byte layout, the keys on disk, rotation, and every way a receiver must refuse
a message (altered, forged, replayed, reordered, wrong key, wrong hub, expired)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Update
from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.wire import event_doc
from tryvoha.api.streams import BufferTransport
from tryvoha.channels.streams import Broadcaster, StreamConfig, StreamSpec
from tryvoha.hub import Hub
from tryvoha.signing import (
    EventSigner,
    KeyFileError,
    Keyring,
    KeySet,
    MalformedSignedEvent,
    ReplayGuard,
    SignedEvent,
    VerificationError,
    key_id_of,
    verify_event,
    verify_signed,
    verify_webhook,
)
from tryvoha.signing.canonical import MAGIC, iso_ms, ms
from tryvoha.signing.hub import Signing
from tryvoha.signing.signer import WEBHOOK_HEADER

T0 = datetime(2023, 3, 9, 1, 2, 3, 456789, tzinfo=UTC)


def an_event(**changes: object) -> Event:
    base = Event(
        id=42,
        kind=EventKind.DECLARED,
        alert_id=42,
        region_id="UA32000000000030281",
        threat=Threat.AIR_RAID,
        status=AlertStatus.ACTUAL,
        occurred_at=T0,
        recorded_at=T0 + timedelta(milliseconds=2),
        originator="token:kyiv-dispatch",
        details=(Detail.DRONES, Detail.BALLISTIC_MISSILE),
        notes="з півночі",
    )
    return replace(base, **changes)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.open(tmp_path / "keys", hub_id="hub.test")


@pytest.fixture
def signer(keyring: Keyring) -> EventSigner:
    return EventSigner(keyring)


def keyset(ring: Keyring) -> KeySet:
    return KeySet.from_doc(ring.published())


def signed_doc(signer: EventSigner, event: Event) -> dict:
    return {**event_doc(event), "sig": signer.sig_doc(event)}


def at(event: Event, seconds: float = 1) -> datetime:
    """A moment while the event's signature is fresh."""
    return event.recorded_at + timedelta(seconds=seconds)


# The byte layout ------------------------------------------------------------------------------


def test_layout_is_the_documented_one() -> None:
    event = an_event(notes=None, details=(Detail.DRONES,))
    data = SignedEvent.of(event, "hub.test", timedelta(minutes=5)).encode()
    assert data[:8] == MAGIC == b"TRYVEVT1"
    log_id, alert_id, occurred, recorded, expires, flags = struct.unpack_from(">QQqqqB", data, 8)
    assert (log_id, alert_id, flags) == (42, 42, 0)
    assert occurred == ms(T0) == 1678323723456  # truncated to the millisecond, as the JSON
    assert recorded == occurred + 2 and expires == recorded + 300_000
    pos, strings = 49, []
    while pos < len(data):
        (size,) = struct.unpack_from(">H", data, pos)
        strings.append(data[pos + 2 : pos + 2 + size].decode())
        pos += 2 + size
    assert strings == [
        "hub.test",
        "declared",
        "UA32000000000030281",
        "air_raid",
        "actual",
        "drones",
        "token:kyiv-dispatch",
        "live",
    ]


@pytest.mark.parametrize("notes", [None, "", "з півночі", "x" * 2000, 'ʼ"\\\n\x00'])
def test_every_event_round_trips_and_rebuilds_from_its_json(notes: str | None) -> None:
    event = an_event(notes=notes)
    signed = SignedEvent.of(event, "hub.test", timedelta(seconds=90))
    assert SignedEvent.decode(signed.encode()) == signed
    doc = orjson.loads(orjson.dumps(event_doc(event)))
    rebuilt = SignedEvent.from_doc(doc, "hub.test", iso_ms(signed.expires_at))
    assert rebuilt == signed
    assert signed.differences(doc) == []


def test_decoder_refuses_anything_but_one_whole_event() -> None:
    good = SignedEvent.of(an_event(), "hub.test", timedelta(minutes=5)).encode()
    bad = {
        "truncated": good[:-1],
        "trailing": good + b"\x00",
        "magic": b"TRYVEVT3" + good[8:],
        "flags": good[:48] + b"\x03" + good[49:],
        "no notes flag": good[:48] + b"\x00" + good[49:],
        "short": good[:40],
        "too big": good + b"\x00" * 20_000,
    }
    accepted = []
    for name, data in bad.items():
        try:
            SignedEvent.decode(data)
        except MalformedSignedEvent:
            continue
        accepted.append(name)
    assert accepted == []
    broken_utf8 = good.replace("півночі".encode(), b"\xff" * len("півночі".encode()))
    with pytest.raises(MalformedSignedEvent, match="UTF-8"):
        SignedEvent.decode(broken_utf8)


def retraction(**changes: object) -> Event:
    return an_event(
        kind=EventKind.RETRACTED,
        reason="оголошено помилково",
        correction="Скасовано: …\nWithdrawn: …",
        **changes,
    )


def test_layout_2_carries_a_retraction_and_a_proposal_reference() -> None:
    deadline = T0 + timedelta(minutes=2)
    for event, flags in [
        (retraction(notes=None), 0x06),
        (retraction(), 0x07),
        (an_event(proposal_id=40, proposed_by="token:anna"), 0x19),
        (an_event(kind=EventKind.PROPOSED, proposal_id=42, deadline=deadline), 0x31),
    ]:
        signed = SignedEvent.of(event, "hub.test", timedelta(minutes=5))
        data = signed.encode()
        assert data[:8] == b"TRYVEVT2" and signed.layout == 2
        head = struct.unpack_from(">QQqqqQqB", data, 8)
        assert head[:2] == (42, 42) and head[-1] == flags
        assert head[5] == (event.proposal_id or 0)
        assert head[6] == (ms(deadline) if event.deadline else 0)
        assert SignedEvent.decode(data) == signed
        doc = orjson.loads(orjson.dumps(event_doc(event)))
        assert SignedEvent.from_doc(doc, "hub.test", iso_ms(signed.expires_at)) == signed
        assert signed.differences(doc) == []
        assert signed.differences({**doc, "reason": "другий"}) == ["reason"]
    plain = SignedEvent.of(an_event(), "hub.test", timedelta(minutes=5))
    assert plain.layout == 1 and plain.encode()[:8] == b"TRYVEVT1"


def test_layout_2_has_one_encoding_per_event() -> None:
    good = SignedEvent.of(retraction(), "hub.test", timedelta(minutes=5)).encode()
    # Each variant refused for its own reason, not by an earlier check it happens to trip.
    bad = {
        "unknown flags": good[:64] + bytes([good[64] | 0x40]) + good[65:],
        "no field of layout 2": good[:64] + b"\x01" + good[65:],
        "a value in the header without its flag": good[:48] + (7).to_bytes(8, "big") + good[56:],
        "without its flag": good[:56] + (7).to_bytes(8, "big") + good[64:],
        "unknown flags 0x07": b"TRYVEVT1" + good[8:48] + good[64:],
        "truncated": good[:-1],
        "too short": good[:60],
    }
    for reason, data in bad.items():
        with pytest.raises(MalformedSignedEvent, match=reason):
            SignedEvent.decode(data)


def test_a_signed_retraction_verifies_and_any_change_to_it_is_refused(
    signer: EventSigner,
) -> None:
    event = retraction()
    doc = signed_doc(signer, event)
    keys = keyset(signer.keyring)
    verified = verify_event(doc, keys, now=at(event))
    assert (verified.event.kind, verified.event.reason) == ("retracted", "оголошено помилково")
    assert verified.event.correction == event.correction
    for name, value in [("reason", "інше"), ("correction", "Відбій"), ("proposed_by", "x")]:
        with pytest.raises(VerificationError) as caught:
            verify_event({**doc, name: value}, keys, now=at(event))
        assert caught.value.reason == "mismatch"
    without = {k: v for k, v in doc.items() if k != "correction"}
    with pytest.raises(VerificationError) as caught:
        verify_event(without, keys, now=at(event))
    assert (caught.value.reason, caught.value.detail) == ("mismatch", "correction")
    body = orjson.dumps({"event": event_doc(event), "alert": {}})
    header = {WEBHOOK_HEADER: signer.webhook_header(body)}
    assert verify_webhook(body, header, keys, now=at(event)).event.reason == event.reason
    altered = body.replace("помилково".encode(), "навмисно".encode())
    with pytest.raises(VerificationError) as caught:
        verify_webhook(altered, header, keys, now=at(event))
    assert caught.value.reason == "bad_signature"


# Keys on disk ---------------------------------------------------------------------------------


def test_first_start_makes_an_owner_only_key(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "k")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700
    private = tmp_path / "k" / f"ed25519-{ring.active_id}.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert ring.hub_id.startswith("tryvoha-")
    (key,) = ring.public
    assert key.key_id == key_id_of(key.raw) == hashlib.sha256(key.raw).hexdigest()[:16]
    again = Keyring.open(tmp_path / "k")
    assert (again.active_id, again.hub_id) == (ring.active_id, ring.hub_id)
    named = Keyring.open(tmp_path / "k", hub_id="alerts.example.gov.ua")
    assert Keyring.open(tmp_path / "k").hub_id == "alerts.example.gov.ua" == named.hub_id
    with pytest.raises(KeyFileError, match="hub id"):
        Keyring.open(tmp_path / "k", hub_id="bad hub, id")
    with pytest.raises(KeyFileError, match="no signing keys"):
        Keyring.open(tmp_path / "none", create=False)


def test_each_database_has_its_own_key_directory(tmp_path: Path, monkeypatch) -> None:
    from tryvoha.config import Settings
    from tryvoha.signing.hub import key_directory

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert key_directory(Settings(db=str(tmp_path / "hub.db"))) == tmp_path / "hub.keys"
    assert key_directory(Settings(db=f"sqlite:///{tmp_path}/a.db")) == tmp_path / "a.keys"
    assert key_directory(Settings(db="x.db", keys="/srv/keys")) == Path("/srv/keys")
    one = key_directory(Settings(db="postgresql://u:secret@db.example:5433/alerts"))
    two = key_directory(Settings(db="postgresql://u:secret@db.example:5433/drills"))
    assert one == tmp_path / "tryvoha" / "keys" / "postgresql-db.example-5433-alerts" != two


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_others_can_read_is_refused_with_what_to_do(tmp_path: Path, mode: int) -> None:
    ring = Keyring.open(tmp_path / "k")
    private = tmp_path / "k" / f"ed25519-{ring.active_id}.key"
    os.chmod(private, mode)
    with pytest.raises(KeyFileError) as caught:
        Keyring.open(tmp_path / "k")
    message = str(caught.value)
    assert f"mode {mode:04o}" in message and f"chmod 600 {private}" in message


def test_serve_refuses_to_start_with_a_readable_key(tmp_path: Path) -> None:
    from tryvoha.cli import app

    ring = Keyring.open(tmp_path / "hub.keys")
    os.chmod(tmp_path / "hub.keys" / f"ed25519-{ring.active_id}.key", 0o644)
    result = CliRunner().invoke(
        app, ["serve", "--db", str(tmp_path / "hub.db"), "--no-history", "--port", "1"]
    )
    assert result.exit_code == 2, result.output
    assert "Cannot start" in result.output and "chmod 600" in result.output


def test_rotation_keeps_what_the_old_key_signed_valid(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "k", hub_id="hub.test")
    signer = EventSigner(ring)
    first = an_event(id=1, alert_id=1, recorded_at=datetime.now(UTC))
    old_doc = signed_doc(signer, first)
    old_id = ring.active_id
    old_private = ring._private[old_id]

    # Rotated by `tryvoha keys rotate` beside the running hub: another Keyring on the same dir.
    from tryvoha.cli import app

    result = CliRunner().invoke(app, ["keys", "rotate", "--keys", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "k" / f"ed25519-{old_id}.key").exists()  # the private half is gone
    second = an_event(id=2, alert_id=1, kind=EventKind.ENDED, recorded_at=datetime.now(UTC))
    new_doc = signed_doc(signer, second)  # the signer notices the new manifest
    assert new_doc["sig"]["key_id"] == ring.active_id != old_id

    keys = keyset(ring)
    guard = ReplayGuard()
    assert verify_event(old_doc, keys, now=at(first), guard=guard).key_id == old_id
    assert verify_event(new_doc, keys, now=at(second), guard=guard).key_id == ring.active_id
    listed = {k["key_id"]: k for k in ring.published()["keys"]}
    assert listed[old_id]["active"] is False and listed[old_id]["valid_until"] is not None

    # A stolen retired key cannot vouch for anything recorded after its window.
    until = datetime.fromisoformat(listed[old_id]["valid_until"].replace("Z", "+00:00"))
    late = an_event(id=3, recorded_at=until + timedelta(seconds=1))
    data = SignedEvent.of(late, "hub.test", timedelta(minutes=5)).encode()
    with pytest.raises(VerificationError) as caught:
        verify_signed(keys, old_id, data, old_private.sign(data), now=until)
    assert caught.value.reason == "key_retired"


def test_a_rotation_can_be_published_ahead_of_its_time(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "k", hub_id="hub.test")
    now = datetime.now(UTC)
    ring.clock = lambda: now
    signer = EventSigner(ring)
    old_id = ring.active_id
    new = ring.rotate(at=now + timedelta(days=30))
    published = {k["key_id"]: k for k in ring.published()["keys"]}
    assert published[new.key_id]["active"] is False  # known to devices, not signing yet
    assert published[old_id]["active"] is True
    with pytest.raises(KeyFileError, match="already waiting"):
        ring.rotate(at=now + timedelta(days=60))
    before = an_event(id=1, recorded_at=now)
    assert signer.signature(before).key_id == old_id
    later = now + timedelta(days=30, seconds=1)
    ring.clock = lambda: later  # the day comes: the hub switches by itself
    after = an_event(id=2, recorded_at=later)
    assert signer.signature(after).key_id == new.key_id
    keys = keyset(ring)
    assert verify_event(signed_doc(signer, before), keys, now=at(before)).key_id == old_id
    assert verify_event(signed_doc(signer, after), keys, now=at(after)).key_id == new.key_id
    ring.clock = lambda: later + timedelta(minutes=2)  # past the old window and its grace
    ring.load()
    assert not (tmp_path / "k" / f"ed25519-{old_id}.key").exists()


# Refusals -------------------------------------------------------------------------------------


def refusal(call) -> str:
    with pytest.raises(VerificationError) as caught:
        call()
    return caught.value.reason


def test_each_kind_of_bad_message_is_refused_for_its_reason(signer: EventSigner) -> None:
    event = an_event()
    doc = signed_doc(signer, event)
    keys = keyset(signer.keyring)
    now = at(event)
    assert verify_event(doc, keys, now=now).event.region_id == event.region_id

    # Forged: signed with someone else's key but naming the hub's key id.
    forger = Ed25519PrivateKey.generate()
    signed = base64.b64decode(doc["sig"]["signed"])
    forged = {**doc, "sig": {**doc["sig"], "signature": _b64(forger.sign(signed))}}
    assert refusal(lambda: verify_event(forged, keys, now=now)) == "bad_signature"

    # Signed by a key the hub does not publish.
    other = Keyring.open(signer.keyring.directory.parent / "other", hub_id="hub.test")
    foreign = signed_doc(EventSigner(other), event)
    assert refusal(lambda: verify_event(foreign, keys, now=now)) == "unknown_key"
    # ... and a genuine message checked against another hub's keys.
    assert refusal(lambda: verify_event(doc, keyset(other), now=now)) == "unknown_key"

    # The hub id inside the bytes must be the keys' hub.
    stranger = KeySet("another.hub", keys.keys)
    assert refusal(lambda: verify_event(doc, stranger, now=now)) == "wrong_hub"

    # Expired: one millisecond after expires_at.
    late = event.recorded_at + timedelta(minutes=5, milliseconds=1)
    assert refusal(lambda: verify_event(doc, keys, now=late)) == "expired"

    # Replay and reordering.
    guard = ReplayGuard()
    earlier = signed_doc(signer, an_event(id=41, alert_id=41))
    verify_event(doc, keys, now=now, guard=guard)
    assert refusal(lambda: verify_event(doc, keys, now=now, guard=guard)) == "replayed"
    assert refusal(lambda: verify_event(earlier, keys, now=now, guard=guard)) == "reordered"
    assert refusal(lambda: verify_event(doc, keys, now=now, guard=ReplayGuard(42))) == "replayed"

    # Unsigned, and not a signature at all.
    plain = {k: v for k, v in doc.items() if k != "sig"}
    assert refusal(lambda: verify_event(plain, keys, now=now)) == "unsigned"
    junk = {**doc, "sig": {**doc["sig"], "signed": "not base64!"}}
    assert refusal(lambda: verify_event(junk, keys, now=now)) == "malformed"
    extra = {**doc, "urgent": True}
    assert refusal(lambda: verify_event(extra, keys, now=now)) == "mismatch"


def test_the_guard_tells_a_gap_a_replay_and_a_late_message_apart() -> None:
    guard = ReplayGuard()
    assert guard.check(10) == 0
    guard.accept(10)
    assert guard.check(14) == 3  # a gap: 11, 12, 13 not seen (a filter, or loss)
    guard.accept(14)
    reasons = {}
    for log_id in (14, 10, 12, 9):
        with pytest.raises(VerificationError) as caught:
            guard.check(log_id)
        reasons[log_id] = caught.value.reason
    assert reasons == {14: "replayed", 10: "replayed", 12: "reordered", 9: "reordered"}
    guard.accept(12)
    with pytest.raises(VerificationError, match="replayed"):
        guard.check(12)
    far = ReplayGuard(window=8)
    far.accept(100)
    with pytest.raises(VerificationError, match="replayed"):
        far.check(90)  # below the window: treated as a replay


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Every alteration is refused (property tests) -------------------------------------------------

EVENT_FIELDS = {
    "id": st.integers(1, 2**40),
    "kind": st.sampled_from(["declared", "updated", "ended", "retracted"]),
    "alert_id": st.integers(1, 2**40),
    "region_id": st.sampled_from(["UA", "UA32000000000030281", "UA80000000000093317"]),
    "threat": st.sampled_from([t.value for t in Threat]),
    "details": st.lists(st.sampled_from([d.value for d in Detail]), max_size=3, unique=True),
    "status": st.sampled_from([s.value for s in AlertStatus]),
    "notes": st.none() | st.text(max_size=40),
    "occurred_at": st.sampled_from(["2023-03-09T01:02:03.000Z", "2026-01-01T00:00:00.001Z"]),
    "recorded_at": st.sampled_from(["2023-03-09T01:02:03.457Z", "2023-03-09T01:02:04.000Z"]),
    "originator": st.text(min_size=1, max_size=20),
    "source": st.sampled_from(["live", "import:official", "replay"]),
    "reason": st.text(min_size=1, max_size=40),
    "correction": st.text(min_size=1, max_size=40),
    "proposal_id": st.integers(1, 2**40),
    "proposed_by": st.text(min_size=1, max_size=20),
    "deadline": st.sampled_from(["2023-03-09T01:04:03.457Z", "2026-01-01T00:02:00.001Z"]),
}

events = st.builds(
    an_event,
    id=st.integers(1, 2**31),
    alert_id=st.integers(1, 2**31),
    kind=st.sampled_from(list(EventKind)),
    threat=st.sampled_from(list(Threat)),
    status=st.sampled_from(list(AlertStatus)),
    details=st.lists(st.sampled_from(list(Detail)), max_size=5, unique=True).map(tuple),
    notes=st.none() | st.text(max_size=200),
    originator=st.text(min_size=1, max_size=60),
    reason=st.none() | st.text(min_size=1, max_size=100),
    correction=st.none() | st.text(min_size=1, max_size=100),
    proposal_id=st.none() | st.integers(1, 2**31),
    proposed_by=st.none() | st.text(min_size=1, max_size=60),
    deadline=st.none() | st.just(T0 + timedelta(minutes=2)),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def shared_signer(tmp_path_factory: pytest.TempPathFactory) -> EventSigner:
    return EventSigner(Keyring.open(tmp_path_factory.mktemp("prop") / "keys", hub_id="hub.test"))


def fresh_doc(signer: EventSigner, event: Event) -> dict:
    """Signed without the cache: generated events reuse log ids, a real log never does."""
    signed = SignedEvent.of(event, signer.hub_id, signer.ttl)
    return {**event_doc(event), "sig": signer.sign(signed).doc()}


@PROPERTY
@given(event=events, data=st.data())
def test_any_changed_field_is_refused(shared_signer: EventSigner, event: Event, data) -> None:
    doc = orjson.loads(orjson.dumps(fresh_doc(shared_signer, event)))
    keys = keyset(shared_signer.keyring)
    name = data.draw(st.sampled_from(sorted(EVENT_FIELDS)))
    value = data.draw(EVENT_FIELDS[name].filter(lambda v: v != doc.get(name)))
    if name in ("occurred_at", "recorded_at", "deadline") and SignedEvent.from_doc(
        {**doc, name: value}, "hub.test", doc["sig"]["expires_at"]
    ) == SignedEvent.from_doc(doc, "hub.test", doc["sig"]["expires_at"]):
        return  # the same millisecond written differently is the same value
    changed = {**doc, name: value}
    with pytest.raises(VerificationError) as caught:
        verify_event(changed, keys, now=at(event))
    assert caught.value.reason == "mismatch"
    # An attacker who also rewrites the signed bytes to match is caught by the signature.
    expires = doc["sig"]["expires_at"]
    forged_bytes = SignedEvent.from_doc(changed, "hub.test", expires).encode()
    forged = {**changed, "sig": {**doc["sig"], "signed": _b64(forged_bytes)}}
    with pytest.raises(VerificationError) as caught:
        verify_event(forged, keys, now=at(event))
    assert caught.value.reason == "bad_signature"


@PROPERTY
@given(event=events, target=st.sampled_from(["signed", "signature"]), data=st.data())
def test_any_flipped_bit_is_refused(shared_signer: EventSigner, event: Event, target, data) -> None:
    doc = fresh_doc(shared_signer, event)
    keys = keyset(shared_signer.keyring)
    raw = bytearray(base64.b64decode(doc["sig"][target]))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    altered = {**doc, "sig": {**doc["sig"], target: _b64(bytes(raw))}}
    with pytest.raises(VerificationError) as caught:
        verify_event(altered, keys, now=at(event))
    assert caught.value.reason in ("bad_signature", "malformed")


@PROPERTY
@given(event=events, data=st.data())
def test_any_changed_webhook_field_or_header_is_refused(
    shared_signer: EventSigner, event: Event, data
) -> None:
    body = orjson.dumps({"event": event_doc(event), "alert": {"id": event.alert_id}})
    signed = SignedEvent.of(event, shared_signer.hub_id, shared_signer.ttl)
    headers = {WEBHOOK_HEADER: shared_signer.sign(signed).header()}
    keys = keyset(shared_signer.keyring)
    assert verify_webhook(body, headers, keys, now=at(event)).event.log_id == event.id
    doc = orjson.loads(body)
    name = data.draw(st.sampled_from(sorted(EVENT_FIELDS)))
    value = data.draw(EVENT_FIELDS[name].filter(lambda v: v != doc["event"].get(name)))
    doc["event"][name] = value
    altered = orjson.dumps(doc)
    same = SignedEvent.from_doc(doc["event"], "hub.test", "2030-01-01T00:00:00Z")
    if same == SignedEvent.from_doc(
        orjson.loads(body)["event"], "hub.test", "2030-01-01T00:00:00Z"
    ):
        return  # the same millisecond written differently
    with pytest.raises(VerificationError) as caught:
        verify_webhook(altered, headers, keys, now=at(event))
    assert caught.value.reason == "bad_signature"
    # A later expiry in the header is an alteration too.
    parts = dict(p.split("=", 1) for p in headers[WEBHOOK_HEADER].split(","))
    longer = f"keyid={parts['keyid']},exp=2099-01-01T00:00:00.000Z,sig={parts['sig']}"
    with pytest.raises(VerificationError) as caught:
        verify_webhook(body, {WEBHOOK_HEADER: longer}, keys, now=at(event))
    assert caught.value.reason == "bad_signature"


# Signing once ---------------------------------------------------------------------------------


def test_webhook_header_is_the_same_after_a_restart(keyring: Keyring) -> None:
    event = an_event()
    body = orjson.dumps({"event": event_doc(event), "alert": {}})
    first = EventSigner(keyring)
    first.signature(event)
    restarted = EventSigner(Keyring.open(keyring.directory))  # an empty cache
    assert restarted.webhook_header(body) == first.webhook_header(body)
    assert first.signature(event).header() == first.webhook_header(body)


class CountingKeyring(Keyring):
    signatures = 0

    def sign(self, data: bytes) -> tuple[str, bytes]:
        CountingKeyring.signatures += 1
        return super().sign(data)


async def test_an_event_is_signed_once_whatever_the_subscribers(
    hub: Hub, catalogue, tmp_path: Path
) -> None:
    ring = CountingKeyring.open(tmp_path / "keys", hub_id="hub.test")
    assert isinstance(ring, CountingKeyring)
    signing = Signing(EventSigner(ring))
    signing.follow(hub)
    broadcaster = Broadcaster(hub, StreamConfig(burst_gap=0), signing)
    broadcaster.follow()
    transports = [(BufferTransport(), i % 2 == 1) for i in range(60)]
    for transport, ws in transports:
        broadcaster.accept(transport, StreamSpec(), ws, b"")
        transport.take()
    CountingKeyring.signatures = 0
    region = catalogue.oblasts[3].id
    declared = await hub.submit(Declare(region, Threat.AIR_RAID), Actor("t"))
    ref = AlertRef(alert_id=declared.event.id)
    await hub.submit(Update(ref, details=(Detail.DRONES,)), Actor("t"))
    await hub.submit(End(ref), Actor("t"))
    while broadcaster._running:
        await asyncio.sleep(0)
    assert CountingKeyring.signatures == 3  # three events, 60 subscribers
    keys = keyset(ring)
    seen = set()
    for transport, ws in transports:
        raw = transport.take()
        docs = _frames(raw, ws)
        assert [d["id"] for d in docs] == [1, 2, 3]
        for d in docs:
            verify_event(d, keys)
            seen.add(d["sig"]["signature"])
    assert len(seen) == 3
    assert signing.signed_event_doc(declared.event)["sig"]["signature"] in seen


async def test_a_failing_signer_never_stops_delivery(hub: Hub, catalogue, tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path / "keys")
    signing = Signing(EventSigner(ring))
    signing.follow(hub)
    ring._private.clear()  # as if the key vanished: every signature now fails
    broadcaster = Broadcaster(hub, StreamConfig(burst_gap=0), signing)
    broadcaster.follow()
    transport = BufferTransport()
    broadcaster.accept(transport, StreamSpec(), False, b"")
    transport.take()
    declared = await hub.submit(Declare(catalogue.oblasts[1].id, Threat.AIR_RAID), Actor("t"))
    while broadcaster._running:
        await asyncio.sleep(0)
    (doc,) = _frames(transport.take(), False)
    assert doc["id"] == declared.event.id and "sig" not in doc
    body = orjson.dumps({"event": event_doc(declared.event), "alert": {}})
    assert signing.webhook_headers(body) == {}


def _frames(raw: bytes, ws: bool) -> list[dict]:
    if not ws:
        return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    out, i = [], 0
    while i < len(raw):
        length, head = raw[i + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(raw[i + 2 : i + 4], "big"), 4
        out.append(orjson.loads(raw[i + head : i + head + length]))
        i += head + length
    return out


# The documented test vectors ------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "signatures.md"


def test_the_documented_vectors_verify() -> None:
    """docs/signatures.md holds real hub output; an implementation is checked against it."""
    import re

    text = DOCS.read_text()
    blocks = dict(re.findall(r"```(?:json|text) (\S+)\n(.*?)\n```", text, re.S))
    keys = KeySet.from_json(blocks["keys"])
    event = orjson.loads(blocks["event"])
    moment = datetime.fromisoformat(event["recorded_at"].replace("Z", "+00:00"))
    verified = verify_event(event, keys, now=moment)
    assert (verified.event.hub, verified.event.notes) == ("alerts.example.org", "шахеди з півночі")
    dump = re.search(r"Its 207 signed bytes:\n\n```\n(.*?)\n```", text, re.S)
    assert dump is not None
    listed = bytes.fromhex(
        "".join(line[6:53] for line in dump.group(1).splitlines()).replace(" ", "")
    )
    assert listed == base64.b64decode(event["sig"]["signed"]) and len(listed) == 207
    signature = re.search(r"Signature:\n`([0-9a-f]{128})`", text)
    assert signature and bytes.fromhex(signature.group(1)) == base64.b64decode(
        event["sig"]["signature"]
    )
    name, _, value = blocks["webhook-header"].partition(": ")
    body = orjson.dumps({"event": {k: v for k, v in event.items() if k != "sig"}, "alert": {}})
    assert verify_webhook(body, {name: value}, keys, now=moment).event.log_id == 1
    with pytest.raises(VerificationError, match="expired"):
        verify_event(event, keys, now=moment + timedelta(minutes=5, milliseconds=1))


def test_the_documented_layout_2_vector_verifies() -> None:
    """The retraction in docs/signatures.md: real hub output in layout 2, read in C too."""
    import re

    text = DOCS.read_text()
    blocks = dict(re.findall(r"```(?:json|text) (\S+)\n(.*?)\n```", text, re.S))
    keys = KeySet.from_json(blocks["keys-2"])
    event = orjson.loads(blocks["event-retracted"])
    moment = datetime.fromisoformat(event["recorded_at"].replace("Z", "+00:00"))
    verified = verify_event(event, keys, now=moment).event
    assert (verified.kind, verified.reason) == ("retracted", "оголошено не для тієї області")
    assert verified.correction is not None and verified.correction.startswith("Скасовано: ")
    assert verified.correction == event["correction"]
    section = text[text.index("### A retraction (layout 2)") :]
    dump = re.search(r"Its (\d+) signed bytes.*?\n\n```\n(.*?)\n```", section, re.S)
    assert dump is not None
    listed = bytes.fromhex(
        "".join(line[6:53] for line in dump.group(2).splitlines()).replace(" ", "")
    )
    assert listed == base64.b64decode(event["sig"]["signed"]) and len(listed) == int(dump[1])
    assert listed[:8] == b"TRYVEVT2" and listed[64] == 0x06
    signature = re.search(r"Signature:\n`([0-9a-f]{128})`", section)
    assert signature and bytes.fromhex(signature.group(1)) == base64.b64decode(
        event["sig"]["signature"]
    )
    name, _, value = blocks["webhook-header-2"].partition(": ")
    body = orjson.dumps({"event": {k: v for k, v in event.items() if k != "sig"}, "alert": {}})
    assert verify_webhook(body, {name: value}, keys, now=moment).event.log_id == 2
