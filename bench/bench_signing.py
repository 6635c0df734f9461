#!/usr/bin/env python3
"""What signing costs: one event signed (once, whatever the subscribers), its stream frames with
and without the signature, a receiver's check, and its CAP message rendered, validated and signed.

    .venv/bin/python bench/bench_signing.py                # 2,000 events, 200 CAP messages
    .venv/bin/python bench/bench_signing.py --events 500 --cap 50 --json

Everything runs in this process on a scratch key directory and SQLite file; each figure is the
median of five rounds, per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.wire import event_doc
from tryvoha.api.app import create_app
from tryvoha.channels.cap.feeds import FeedRequest
from tryvoha.channels.cap.schema import validate
from tryvoha.channels.cap.xmlsig import CapSigner
from tryvoha.channels.streams.broadcaster import Entry
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Level, load_catalogue
from tryvoha.signing import EventSigner, Keyring, KeySet, SignedEvent, verify_event
from tryvoha.signing.hub import Signing
from tryvoha.store import SqlStore


def per_op(fn: Callable[[int], object], n: int, rounds: int = 5) -> float:
    """Median over rounds of the mean time of one call, in microseconds."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def events(n: int, region: str) -> list[Event]:
    now = datetime.now(UTC)
    base = Event(
        id=1,
        kind=EventKind.DECLARED,
        alert_id=1,
        region_id=region,
        threat=Threat.AIR_RAID,
        status=AlertStatus.ACTUAL,
        occurred_at=now,
        recorded_at=now,
        originator="token:kyiv-oblast-dispatch",
        details=(Detail.DRONES, Detail.BALLISTIC_MISSILE),
        notes="шахеди з півночі, курс на захід",
    )
    return [replace(base, id=i + 1, recorded_at=now + timedelta(microseconds=i)) for i in range(n)]


async def cap_figures(work: Path, count: int) -> dict[str, float]:
    catalogue = load_catalogue()
    url = f"sqlite:///{work / 'bench.db'}"
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    app = create_app(hub, Settings(db=url, load_history=False))
    service = app.state.cap
    service.keys.get()
    # Not the country: its alert waits for a second operator (alerts/approval.py), so it would
    # be a proposal, not an alert this loop can end.
    regions = [r.id for r in catalogue if r.level is not Level.COUNTRY][:count]
    for region in regions:  # each event: a declaration and its end, so ends carry references
        declared = await hub.submit(Declare(region, Threat.AIR_RAID), Actor("bench"))
        await hub.submit(End(AlertRef(alert_id=declared.event.id)), Actor("bench"))
    logged = hub.store.events_after(0)
    signer = CapSigner(service.keys.get())
    for event in logged:  # warm the polygon cache: a hub computes each region's outline once
        service.renderer.polygons.polygons(event.region_id)

    def render(i: int) -> None:
        event = logged[i % len(logged)]
        validate(service.renderer.build(event, service.earlier(event)))

    def render_and_sign(i: int) -> None:
        event = logged[i % len(logged)]
        root = service.renderer.build(event, service.earlier(event))
        validate(root)
        signer.sign(root)

    def first_polygon(i: int) -> None:
        from tryvoha.channels.cap.geometry import simplified_rings

        simplified_rings(catalogue.boundary(regions[i % len(regions)]))

    for region in regions[: count // 2]:
        await hub.submit(Declare(region, Threat.ARTILLERY_SHELLING), Actor("bench"))
    hub_read = service.snapshot(FeedRequest(None, ("actual",)))
    service.prime()

    figures = {
        "cap_render_validate_us": per_op(render, len(logged)),
        "cap_render_validate_sign_us": per_op(render_and_sign, len(logged)),
        "cap_region_outline_first_time_us": per_op(first_polygon, len(regions), rounds=1),
        "feed_build_us": per_op(
            lambda _i: service.feed(FeedRequest(None, ("actual",)), hub_read), 20
        ),
        "feed_in_force_entries": float(len(hub_read.in_force)),
    }
    hub.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--cap", type=int, default=200, help="alerts whose CAP messages to render")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tryvoha-bench-signing-"))
    ring = Keyring.open(work / "keys", hub_id="bench.example")
    region = load_catalogue().resolve("Kyivska oblast").id
    batch = events(args.events, region)
    signer = EventSigner(ring)
    signing = Signing(signer)
    ttl = timedelta(minutes=5)
    keys = KeySet.from_doc(ring.published())
    signed_docs = [{**event_doc(e), "sig": signer.sig_doc(e)} for e in batch]
    bodies = [orjson.dumps({"event": event_doc(e), "alert": {}}) for e in batch]

    figures = {
        "canonical_encode_us": per_op(
            lambda i: SignedEvent.of(batch[i], "bench.example", ttl).encode(), args.events
        ),
        "sign_one_event_us": per_op(
            lambda i: signer.sign(SignedEvent.of(batch[i], "bench.example", ttl)), args.events
        ),
        "cached_signature_lookup_us": per_op(lambda i: signer.sig_doc(batch[i]), args.events),
        "stream_entry_unsigned_us": per_op(lambda i: Entry(batch[i]), args.events),
        "stream_entry_signed_us": per_op(lambda i: Entry(batch[i], signing), args.events),
        "webhook_header_after_restart_us": per_op(
            lambda i: EventSigner(ring).webhook_header(bodies[i]), min(args.events, 500)
        ),
        "receiver_verify_event_us": per_op(
            lambda i: verify_event(signed_docs[i], keys, now=batch[i].recorded_at), args.events
        ),
        "sse_frame_bytes_unsigned": float(len(Entry(batch[0]).sse)),
        "sse_frame_bytes_signed": float(len(Entry(batch[0], signing).sse)),
    }
    figures.update(asyncio.run(cap_figures(work, args.cap)))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    width = max(map(len, figures))
    for name, value in figures.items():
        unit = "" if name.endswith(("bytes_unsigned", "bytes_signed", "entries")) else " µs"
        print(f"{name:<{width}}  {value:>10.1f}{unit}")


if __name__ == "__main__":
    main()
