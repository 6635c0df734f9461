"""A real night as CAP: the massive missile attack of 9 March 2023, replayed from the official
record through the operator path; every message and every feed it produced is validated."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import xmlschema
from lxml import etree

from tryvoha.alerts.model import Event, EventKind
from tryvoha.api.app import create_app
from tryvoha.channels.cap import schema, xmlsig
from tryvoha.channels.cap.feeds import MAX_FEED_BYTES
from tryvoha.channels.cap.message import NS
from tryvoha.config import Settings
from tryvoha.history import replay
from tryvoha.history.sources import read_official
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .test_cap import ATOM, check_atom, entry_ids

SHARED = next(p / "shared" for p in Path(__file__).resolve().parents if (p / "shared").is_dir())
OFFICIAL = SHARED / "data" / "alerts" / "official_data_en.csv"
SINCE = datetime(2023, 3, 8, 18, 0, tzinfo=UTC)
UNTIL = datetime(2023, 3, 9, 12, 0, tzinfo=UTC)
C = f"{{{NS}}}"

pytestmark = pytest.mark.slow


async def test_the_night_of_9_march_2023_as_valid_signed_cap(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    rows = list(read_official(OFFICIAL, catalogue))
    plan = replay.steps(rows, SINCE, UNTIL)
    assert len(plan) > 50  # every oblast went under alert that night
    url = f"sqlite:///{tmp_path / 'night.db'}"
    hub = Hub(catalogue, SqlStore(url))
    hub.load()
    replay.claim_demo_log(hub.store)
    app = create_app(hub, Settings(db=url, load_history=False, public_url="https://hub.example"))
    live: list[Event] = []
    hub.bus.subscribe(live.append)

    oasis = xmlschema.XMLSchema(str(SHARED / "data" / "cap" / "CAP-v1.2.xsd"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        feeds: list[bytes] = []
        clock = [0.0]

        async def between_steps(seconds: float) -> None:
            """Where the replay would wait: poll the national feed as an aggregator does."""
            clock[0] += seconds
            r = await client.get("/api/v1/cap/feed.atom")
            assert r.status_code == 200
            feeds.append(r.content)

        report = await replay.replay(
            hub, plan, SINCE, speed=60, sleep=between_steps, clock=lambda: clock[0]
        )
        assert report.skipped == 0 and len(live) == report.declared + report.ended
        assert len(feeds) > 20
        for body in feeds:
            assert len(body) < MAX_FEED_BYTES
            check_atom(body)
        cert = (await client.get("/.well-known/tryvoha-keys")).json()["cap"]["certificate"]
        messages: dict[int, etree._Element] = {}
        for event in live:
            r = await client.get(f"/api/v1/cap/{event.id}.xml")
            assert r.status_code == 200
            root = etree.fromstring(r.content)
            schema.validate(root)
            oasis.validate(r.content.decode())
            signed = xmlsig.verify(r.content, cert)
            assert signed.findtext(f"{C}identifier").endswith(f":event:{event.id}")
            msg_type = signed.findtext(f"{C}msgType")
            assert msg_type == ("Alert" if event.kind is EventKind.DECLARED else "Update")
            if event.kind is EventKind.ENDED:
                assert signed.findtext(f"{C}info/{C}responseType") == "AllClear"
                declared = messages[event.alert_id]
                reference = signed.findtext(f"{C}references").split(",")
                assert reference[1] == declared.findtext(f"{C}identifier")
                assert reference[2] == declared.findtext(f"{C}sent")
            messages[event.id] = signed

        for body in feeds:  # every message a feed ever linked to is one of the night's
            assert set(entry_ids(check_atom(body))) <= set(messages)
        # The feeds at dawn: the nation and each oblast touched that night.
        oblasts = sorted({catalogue.ancestor_at(e.region_id, _oblast()).id for e in live})
        for region in [None, *oblasts]:
            params = {} if region is None else {"region": region}
            r = await client.get("/api/v1/cap/feed.atom", params=params)
            assert r.status_code == 200 and len(r.content) < MAX_FEED_BYTES
            root = check_atom(r.content)
            for link in root.iter(f"{ATOM}link"):
                if link.get("type") == "application/cap+xml":
                    assert link.get("href").startswith("https://hub.example/api/v1/cap/")
            ids = entry_ids(root)
            in_force = {
                a.last_event_id
                for a in hub.open_alerts()
                if region is None
                or catalogue.is_within(a.region_id, region)
                or catalogue.is_within(region, a.region_id)
            }
            assert in_force <= set(ids)
            assert all(i in messages for i in ids)
    hub.close()


def _oblast():
    from tryvoha.regions import Level

    return Level.OBLAST
