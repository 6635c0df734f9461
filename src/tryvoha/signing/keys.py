"""The hub's Ed25519 signing keys: one directory, owner-only, with every key ever used.

    <dir>/keys.json                 hub id and every key: id, public key, valid from / until
    <dir>/ed25519-<key id>.key      private halves of the keys that may still sign (mode 0600)

Rotation makes a new key and closes the old one's window: its public half stays published so
everything it signed stays verifiable, its private half is deleted once the window is over. A
key's `valid_until` is the latest `recorded_at` it may have signed; verifiers refuse it for
anything later. The window closes `ROTATION_GRACE` after the new key takes over, so a running hub
(which notices the new manifest at its next signature) never signs outside it. A rotation may take
effect later (`at`): the new key is published at once, so devices learn it before it signs, and
the hub switches to it by itself when its time comes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tryvoha.alerts.wire import iso

ALGORITHM = "Ed25519"
MANIFEST = "keys.json"
ROTATION_GRACE = timedelta(seconds=60)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyFileError(Exception):
    """A key directory or file that cannot be used safely; the message says what to do."""


def key_id_of(raw_public: bytes) -> str:
    """The first 8 bytes of SHA-256 of the raw 32-byte public key, in hex."""
    return hashlib.sha256(raw_public).digest()[:8].hex()


def check_hub_id(hub_id: str) -> str:
    if not HUB_ID.match(hub_id):
        raise KeyFileError(
            f"hub id {hub_id!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (e.g. alerts.example.gov.ua)"
        )
    return hub_id


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: str
    raw: bytes
    valid_from: datetime
    valid_until: datetime | None

    def in_force(self, moment: datetime) -> bool:
        """Its window holds `moment`."""
        ended = self.valid_until is not None and moment > self.valid_until
        return self.valid_from <= moment and not ended

    def doc(self) -> dict[str, Any]:
        """The published form (`/.well-known/tryvoha-keys`); `Keyring.published` sets `active`."""
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(self.raw).decode(),
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "active": False,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _newest_first(key: PublicKey) -> float:
    return -key.valid_from.timestamp()


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def check_private_file(path: Path) -> None:
    """Refuse a private key others may read: whoever can read it can forge alerts."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyFileError(f"private key {path} is missing") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"private key {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
            f"anyone who can read it can forge alerts. Run 'chmod 600 {path}' if no one else has "
            "read it, or 'tryvoha keys rotate' to replace it."
        )


def _read_private(path: Path, key: PublicKey) -> Ed25519PrivateKey:
    check_private_file(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"private key {path} is unreadable: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey) or _raw_public(private) != key.raw:
        raise KeyFileError(f"private key {path} is not the key {key.key_id} it names")
    return private


def write_private(path: Path, pem: bytes) -> None:
    """Create a new owner-only file (never overwriting one)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Keyring:
    """The keys in one directory; `sign` uses the active key, `public` lists them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest = directory / MANIFEST
        self.hub_id = ""
        self.public: list[PublicKey] = []
        self._private: dict[str, Ed25519PrivateKey] = {}
        self.clock: Callable[[], datetime] = _utcnow
        self._stamp: tuple[int, int, int] | None = None

    # Opening -----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path | str,
        *,
        create: bool = True,
        hub_id: str | None = None,
        now: datetime | None = None,
    ) -> Keyring:
        """Load the keys, making the directory and a first key when `create` and none exist.
        A given `hub_id` replaces the stored one (the first start stores a random one)."""
        ring = cls(Path(directory).expanduser())
        if hub_id is not None:
            check_hub_id(hub_id)
        if not ring.manifest.exists():
            if not create:
                raise KeyFileError(
                    f"no signing keys in {ring.directory} (start the hub once, or run "
                    f"'tryvoha keys rotate --keys {ring.directory}')"
                )
            ring._create(hub_id or f"tryvoha-{secrets.token_hex(4)}", now or datetime.now(UTC))
        ring.load()
        if hub_id is not None and hub_id != ring.hub_id:
            ring._save(hub_id, ring.public)
            ring.load()
        return ring

    def _create(self, hub_id: str, now: datetime) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        first = self._new_key(now)
        try:
            self._save(hub_id, [first], exclusive=True)
        except FileExistsError:
            # Another process made the keys at the same moment: use theirs.
            (self.directory / f"ed25519-{first.key_id}.key").unlink(missing_ok=True)

    def _new_key(self, now: datetime) -> PublicKey:
        private = Ed25519PrivateKey.generate()
        raw = _raw_public(private)
        key = PublicKey(key_id_of(raw), raw, now, None)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(self.directory / f"ed25519-{key.key_id}.key", pem)
        return key

    def _save(self, hub_id: str, keys: list[PublicKey], exclusive: bool = False) -> None:
        doc = {
            "format": 1,
            "hub": hub_id,
            "keys": [
                {
                    "key_id": k.key_id,
                    "algorithm": ALGORITHM,
                    "public_key": base64.b64encode(k.raw).decode(),
                    "valid_from": iso(k.valid_from),
                    "valid_until": iso(k.valid_until),
                }
                for k in keys
            ],
        }
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        if exclusive:
            fd = os.open(self.manifest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        else:
            _write_atomic(self.manifest, data)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.manifest.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> None:
        """Read the manifest and the active private key; refuse unsafe or inconsistent files."""
        stamp = self._file_stamp()
        try:
            doc = orjson.loads(self.manifest.read_bytes())
            hub_id = check_hub_id(doc["hub"])
            keys = [
                PublicKey(
                    k["key_id"],
                    base64.b64decode(k["public_key"], validate=True),
                    _parse_time(k["valid_from"]) or datetime.now(UTC),
                    _parse_time(k.get("valid_until")),
                )
                for k in doc["keys"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"{self.manifest} is unreadable: {exc}") from exc
        if sum(k.valid_until is None for k in keys) != 1:
            raise KeyFileError(f"{self.manifest} must have exactly one key without an end")
        for key in keys:
            if len(key.raw) != 32 or key_id_of(key.raw) != key.key_id:
                raise KeyFileError(f"{self.manifest}: key {key.key_id} does not match its id")
        now = self.clock()
        private = {}
        for key in keys:
            path = self.directory / f"ed25519-{key.key_id}.key"
            if key.valid_until is not None and key.valid_until < now:
                path.unlink(missing_ok=True)  # its window is over: it must never sign again
            elif path.exists() or key.valid_until is None:
                private[key.key_id] = _read_private(path, key)
        self.hub_id, self.public, self._private = hub_id, keys, private
        if self._current(now) is None:
            raise KeyFileError(f"{self.manifest}: no key may sign now (check the key windows)")
        self._stamp = stamp

    def refresh(self) -> bool:
        """Reload when the manifest changed on disk (`tryvoha keys rotate` beside a running hub);
        True when it did. A broken new manifest keeps the keys already loaded."""
        stamp = self._file_stamp()
        if stamp == self._stamp or stamp is None:
            return False
        try:
            self.load()
        except KeyFileError:
            self._stamp = stamp  # do not retry on every signature; the old key stays in use
            raise
        return True

    # Using ------------------------------------------------------------------------------------

    def _current(self, now: datetime) -> PublicKey | None:
        """The key that signs at `now`: the newest in force whose private half is here."""
        usable = [k for k in self.public if k.key_id in self._private and k.in_force(now)]
        return max(usable, key=lambda k: k.valid_from, default=None)

    @property
    def active_id(self) -> str:
        current = self._current(self.clock())
        return "" if current is None else current.key_id

    def sign(self, data: bytes) -> tuple[str, bytes]:
        """(key id, 64-byte Ed25519 signature) with the key in force now."""
        current = self._current(self.clock())
        if current is None:
            raise KeyFileError("no signing key is in force")
        return current.key_id, self._private[current.key_id].sign(data)

    def rotate(
        self,
        now: datetime | None = None,
        grace: timedelta = ROTATION_GRACE,
        at: datetime | None = None,
    ) -> PublicKey:
        """A new key, signing from `at` (default now); the key it replaces signs nothing recorded
        after `at + grace`. A later `at` publishes the new key ahead of its use."""
        now = now or self.clock()
        start = max(at or now, now)
        if any(k.valid_from > now for k in self.public):
            raise KeyFileError("a rotation is already waiting for its time; let it happen first")
        new = self._new_key(start)
        keys = [
            k if k.valid_until is not None else replace(k, valid_until=start + grace)
            for k in self.public
        ]
        self._save(self.hub_id, [*keys, new])
        if start == now:  # the old key's private half has nothing left to do
            for key in keys:
                (self.directory / f"ed25519-{key.key_id}.key").unlink(missing_ok=True)
        self.load()
        return new

    def published(self, now: datetime | None = None) -> dict[str, Any]:
        """Every key, newest first, in the published form; `active` marks the one signing now."""
        now = now or self.clock()
        current = self._current(now)
        docs = []
        for key in sorted(self.public, key=_newest_first):
            doc = key.doc()
            doc["active"] = current is not None and key.key_id == current.key_id
            docs.append(doc)
        return {"hub": self.hub_id, "keys": docs}


def device_keys_text(published: dict[str, Any]) -> str:
    """The published keys as the C verifier and small devices read them: `hub <id>` and one
    `key <id> <public key base64> <valid_until ms | ->` line per Ed25519 key."""
    lines = [
        f"# tryvoha signing keys of hub {published['hub']} (tryvoha keys export --format text)",
        f"hub {published['hub']}",
    ]
    for key in published["keys"]:
        if key.get("algorithm") != ALGORITHM:
            continue
        until = key.get("valid_until")
        if until is None:
            end = "-"
        else:
            moment = _parse_time(until)
            assert moment is not None
            end = str(int(moment.timestamp() * 1000))
        lines.append(f"key {key['key_id']} {key['public_key']} {end}")
    return "\n".join(lines) + "\n"
