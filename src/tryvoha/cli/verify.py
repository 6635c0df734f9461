"""`tryvoha verify`: check what a hub sent against the keys it publishes.

Reads any of: a stream capture (SSE text as `curl -N` prints it, or WebSocket messages one JSON per
line), a webhook delivery (the raw HTTP request, or its body with `--headers`), an MQTT event
payload, or a CAP message. Prints one verdict per message and exits 0 only if every one holds.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from tryvoha.signing.canonical import iso_ms
from tryvoha.signing.keys import KeyFileError
from tryvoha.signing.verify import (
    KeySet,
    ReplayGuard,
    VerificationError,
    Verified,
    fetch_key_document,
    verify_event,
    verify_webhook,
)

SKIPPED_TYPES = frozenset({"snapshot", "heartbeat", "dropped"})


@dataclass(frozen=True, slots=True)
class Message:
    label: str
    kind: str
    """event (JSON with `sig`), webhook, cap"""
    body: bytes
    headers: dict[str, str] | None = None


def _headers(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def split_messages(name: str, data: bytes, headers: dict[str, str] | None) -> Iterator[Message]:
    """The messages in one input, whatever channel it was captured from."""
    text = data.lstrip()
    if text.startswith(b"<"):
        yield Message(name, "cap", data)
        return
    if headers is not None:
        yield Message(name, "webhook", data, headers)
        return
    if text.startswith(b"POST "):
        head, _, body = data.replace(b"\r\n", b"\n").partition(b"\n\n")
        yield Message(name, "webhook", body, _headers(head.decode("latin-1").split("\n")[1:]))
        return
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        if whole.get("type") not in SKIPPED_TYPES:
            yield Message(name, "event", data)
        return
    kind, buffer, start = "message", [], 0
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = raw.rstrip("\r")
        if line.startswith("{"):  # WebSocket messages, one per line
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                doc = {}
            if doc.get("type") not in SKIPPED_TYPES:
                yield Message(f"{name}:{number}", "event", line.encode())
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            buffer.append(line[5:].removeprefix(" "))
            start = start or number
        elif not line and buffer:  # the end of one SSE event
            if kind not in SKIPPED_TYPES:
                yield Message(f"{name}:{start}", "event", "\n".join(buffer).encode())
            kind, buffer, start = "message", [], 0
    if buffer and kind not in SKIPPED_TYPES:
        yield Message(f"{name}:{start}", "event", "\n".join(buffer).encode())


def describe(ok: Verified) -> str:
    e = ok.event
    gap = f", {ok.missed} log ids skipped" if ok.missed else ""
    return (
        f"OK log {e.log_id} {e.kind} {e.threat}/{e.status} {e.region_id} alert {e.alert_id} "
        f"(key {ok.key_id}, fresh until {iso_ms(e.expires_at)}{gap})"
    )


def check_cap(message: Message, hub: str, cert: bytes, at: datetime | None) -> str:
    """Schema, then the XML signature against the pinned certificate, then whose it is."""
    from lxml import etree
    from signxml.exceptions import InvalidInput, InvalidSignature

    from tryvoha.channels.cap import schema, xmlsig
    from tryvoha.channels.cap.message import NS

    try:
        root = etree.fromstring(message.body, etree.XMLParser(resolve_entities=False))
        schema.validate(root)
    except (etree.XMLSyntaxError, schema.InvalidCap) as exc:
        raise VerificationError("malformed", f"not valid CAP 1.2: {exc}") from None
    try:
        signed = xmlsig.verify(message.body, cert, at=at)
    except (InvalidInput, InvalidSignature) as exc:  # InvalidCertificate/Digest subclass these
        raise VerificationError("bad_signature", str(exc)[:200]) from None
    ident = signed.findtext(f"{{{NS}}}identifier") or ""
    if not ident.startswith(f"urn:tryvoha:{hub}:"):
        raise VerificationError("wrong_hub", ident)
    msg_type = signed.findtext(f"{{{NS}}}msgType")
    status = signed.findtext(f"{{{NS}}}status")
    return f"OK CAP {ident} {msg_type}/{status} sent {signed.findtext(f'{{{NS}}}sent')}"


def verify(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Captured messages ('-' reads standard input).", show_default=False),
    ],
    hub: Annotated[
        str | None,
        typer.Option("--hub", help="Fetch the keys this hub publishes (its base URL)."),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option("--keys-file", help="The keys as JSON (tryvoha keys export, or saved)."),
    ] = None,
    headers_file: Annotated[
        Path | None,
        typer.Option("--headers", help="The webhook's headers, one 'Name: value' a line."),
    ] = None,
    cap_cert: Annotated[
        Path | None,
        typer.Option("--cap-cert", help="Pin this CAP certificate instead of the published one."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Judge freshness at this ISO time with a zone (e.g. when it was captured).",
        ),
    ] = None,
    last_seen: Annotated[
        int,
        typer.Option(min=0, help="The last log id already accepted: up to it all is a replay."),
    ] = 0,
) -> None:
    """Verify signed alerts: streams, webhooks, MQTT payloads and CAP messages.

    Examples:

      curl -sN localhost:8080/api/v1/stream > night.sse; tryvoha verify night.sse --hub http://localhost:8080

      tryvoha verify alert.xml --keys-file keys.json

    Exit status: 0 every message holds, 1 one was refused, 2 nothing could be checked.
    """
    if (hub is None) == (keys_file is None):
        raise typer.BadParameter("give the keys: --hub URL or --keys-file FILE (one of them)")
    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise typer.BadParameter("--at is an ISO time with a zone, e.g. 2026-03-09T03:00+02:00")
    try:
        if hub is not None:
            doc: dict[str, Any] = fetch_key_document(hub)
        else:
            assert keys_file is not None
            doc = orjson.loads(keys_file.read_bytes())
        keys = KeySet.from_doc(doc)
    except (ValueError, OSError, KeyFileError) as exc:
        typer.echo(f"error: cannot use the keys: {exc}", err=True)
        raise typer.Exit(2) from None
    headers = None
    if headers_file is not None:
        headers = _headers(headers_file.read_text("latin-1").splitlines())
    cert = cap_cert.read_bytes() if cap_cert is not None else None
    if cert is None and isinstance(doc.get("cap"), dict):
        cert = str(doc["cap"].get("certificate", "")).encode() or None
    guard = ReplayGuard(last_seen=last_seen)
    now = moment.astimezone(UTC) if moment is not None else None
    checked = refused = 0
    for path in inputs:
        try:
            data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        except OSError as exc:
            typer.echo(f"error: {path}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        for message in split_messages(str(path), data, headers):
            checked += 1
            try:
                if message.kind == "cap":
                    if cert is None:
                        raise VerificationError("unknown_key", "no CAP certificate to pin")
                    line = check_cap(message, keys.hub, cert, now)
                elif message.kind == "webhook":
                    assert message.headers is not None
                    line = describe(
                        verify_webhook(message.body, message.headers, keys, now=now, guard=guard)
                    )
                else:
                    try:
                        event = orjson.loads(message.body)
                    except orjson.JSONDecodeError:
                        raise VerificationError("malformed", "not JSON") from None
                    line = describe(verify_event(event, keys, now=now, guard=guard))
            except VerificationError as exc:
                refused += 1
                where = f" log {exc.log_id}" if exc.log_id is not None else ""
                line = f"REFUSED{where}: {exc.reason}" + (f": {exc.detail}" if exc.detail else "")
            typer.echo(f"{message.label}: {line}")
    if not checked:
        typer.echo("error: no messages found to verify", err=True)
        raise typer.Exit(2)
    typer.echo(f"{checked - refused} of {checked} messages verified", err=True)
    raise typer.Exit(1 if refused else 0)
