"""The alarm map's server side: the boundaries asset, the page's files, the map's JSON routes."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
import shapely

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.api import web
from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level
from tryvoha.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
ADMIN = Actor(originator="test", scopes=None)


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "build_map_assets", REPO / "scripts" / "build_map_assets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def asset() -> dict:
    return json.loads(gzip.decompress((web.STATIC / "map.json.gz").read_bytes()))


def _arcs(asset: dict) -> list[list[tuple[int, int]]]:
    out = []
    for a in asset["arcs"]:
        xs = np.cumsum(a[0::2]).tolist()
        ys = np.cumsum(a[1::2]).tolist()
        out.append(list(zip(xs, ys, strict=True)))
    return out


def _ring(arcs: list, refs: list[int]) -> list[tuple[int, int]]:
    points: list[tuple[int, int]] = []
    for ref in refs:
        pts = arcs[ref] if ref >= 0 else list(reversed(arcs[~ref]))
        if points:
            assert points[-1] == pts[0], "consecutive arcs of a ring must meet"
            pts = pts[1:]
        points.extend(pts)
    assert points[0] == points[-1], "a ring must close"
    return points


def test_packaged_asset_is_what_the_script_builds(catalogue: Catalogue, tmp_path: Path) -> None:
    """The committed asset is up to date with the catalogue, and the build is deterministic."""
    out = tmp_path / "map.json.gz"
    module = _build_module()
    body = json.dumps(module.build(catalogue), ensure_ascii=False, separators=(",", ":")).encode()
    out.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    assert out.read_bytes() == (web.STATIC / "map.json.gz").read_bytes()


def test_asset_covers_every_region_with_our_ids(asset: dict, catalogue: Catalogue) -> None:
    ids = [row[0] for row in asset["regions"]]
    assert ids == [r.id for r in catalogue]
    for row in asset["regions"]:
        region = catalogue.get(row[0])
        parent = asset["regions"][row[2]][0] if row[2] >= 0 else None
        assert parent == region.parent_id
        assert (row[3], row[4]) == (region.name_uk, region.name_en)
    hromadas = {i for i, r in enumerate(catalogue) if r.level is Level.HROMADA}
    assert {int(k) for k in asset["shapes"]} == hromadas
    assert len(hromadas) == 1769
    outlined = {int(k) for k in asset["outlines"]}
    assert outlined == {
        i for i, r in enumerate(catalogue) if r.level in (Level.OBLAST, Level.RAION)
    }
    assert len(asset["labels"]) == 27


def test_shapes_follow_the_real_boundaries(asset: dict, catalogue: Catalogue) -> None:
    """Each hromada's rebuilt polygon covers nearly the same ground as its catalogue boundary."""
    module = _build_module()
    t = asset["transform"]
    arcs = _arcs(asset)
    rows = asset["regions"]
    worst = []
    for key, rings in asset["shapes"].items():
        region_id = rows[int(key)][0]
        polys = [_ring(arcs, refs) for refs in rings]
        lon_lat = []
        for ring in polys:
            xs = np.array([p[0] for p in ring], dtype=float) * t["unit"] + t["x0"]
            ys = t["y0"] - np.array([p[1] for p in ring], dtype=float) * t["unit"]
            lon = np.degrees(xs / module.EARTH)
            lat = np.degrees(2 * np.arctan(np.exp(ys / module.EARTH)) - math.pi / 2)
            lon_lat.append(shapely.make_valid(shapely.Polygon(np.column_stack([lon, lat]))))
        rebuilt = lon_lat[0]
        for part in lon_lat[1:]:  # outer rings and holes: even-odd
            rebuilt = shapely.symmetric_difference(rebuilt, part)
        original = catalogue.boundary(region_id)
        overlap = (
            shapely.intersection(rebuilt, original).area / shapely.union(rebuilt, original).area
        )
        worst.append(overlap)
    assert min(worst) > 0.8
    assert float(np.median(worst)) > 0.97


def test_neighbours_share_their_borders(asset: dict, catalogue: Catalogue) -> None:
    """Shared edges are stored once: most arcs belong to two hromadas, and levels are tagged."""
    users: Counter[int] = Counter()
    for rings in asset["shapes"].values():
        for refs in rings:
            for ref in refs:
                users[ref if ref >= 0 else ~ref] += 1
    shared = sum(1 for n in users.values() if n == 2)
    assert shared / len(asset["arcs"]) > 0.85
    levels = Counter(asset["arc_level"])
    assert set(levels) == {0, 1, 2, 3}
    # Arcs between oblasts lie on oblast boundaries: each is listed in exactly two oblast outlines.
    oblast_rows = {i for i, r in enumerate(asset["regions"]) if r[1] == 1}
    count: Counter[int] = Counter()
    for key, arcs in asset["outlines"].items():
        if int(key) in oblast_rows:
            count.update(arcs)
    for k, level in enumerate(asset["arc_level"]):
        if level == 2:
            assert count[k] == 2
        elif level < 2:
            assert count[k] == 0


def test_page_transfer_is_small() -> None:
    files = web.static_files()
    total = sum(len(f.gzipped) for f in files.values())
    assert {"index.html", "app.js", "map.css", "map.json"} <= set(files)
    assert total < 2_000_000


async def test_page_and_files_are_served_compressed(client: httpx.AsyncClient) -> None:
    page = await client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="/map/app.js"' in page.text
    data = await client.get("/map/map.json", headers={"Accept-Encoding": "gzip"})
    assert data.json()["regions"][0][0] == "UA"
    plain = await client.get("/map/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    again = await client.get("/map/app.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    missing = await client.get("/map/nope.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    api = await client.get("/api/v1/regions/UA")
    assert api.json()["id"] == "UA"


def _oblast(catalogue: Catalogue, name: str) -> str:
    return catalogue.resolve(name, level="oblast").id


async def test_alerts_at_a_moment(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    base = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
    kharkiv, sumy = _oblast(catalogue, "Kharkivska"), _oblast(catalogue, "Sumska")
    first = await hub.submit(Declare(kharkiv, Threat.AIR_RAID, occurred_at=base), ADMIN)
    await hub.submit(Declare(sumy, Threat.AIR_RAID, occurred_at=base + timedelta(hours=1)), ADMIN)
    await hub.submit(
        End(AlertRef(first.event.alert_id), occurred_at=base + timedelta(hours=2)), ADMIN
    )

    async def at(moment: datetime) -> set[str]:
        answer = await client.get("/api/v1/map/at", params={"time": moment.isoformat()})
        assert answer.status_code == 200
        return {a["region_id"] for a in answer.json()["alerts"]}

    assert await at(base - timedelta(seconds=1)) == set()
    assert await at(base) == {kharkiv}  # started_at ≤ t
    assert await at(base + timedelta(hours=1, minutes=30)) == {kharkiv, sumy}
    assert await at(base + timedelta(hours=2)) == {sumy}  # ended_at > t, so not at its end
    span = await client.get(
        "/api/v1/map/alerts",
        params={"since": (base - timedelta(hours=1)).isoformat(), "until": base.isoformat()},
    )
    assert [a["region_id"] for a in span.json()["alerts"]] == [kharkiv]


async def test_history_spans_are_checked(client: httpx.AsyncClient) -> None:
    naive = await client.get("/api/v1/map/at", params={"time": "2023-03-09T06:00:00"})
    assert naive.status_code == 422
    assert naive.json()["error"]["code"] == "time_without_zone"
    long = await client.get(
        "/api/v1/map/alerts", params={"since": "2023-03-01T00:00Z", "until": "2023-03-09T00:00Z"}
    )
    assert long.json()["error"]["code"] == "span_too_long"
    backwards = await client.get(
        "/api/v1/map/alerts", params={"since": "2023-03-09T00:00Z", "until": "2023-03-01T00:00Z"}
    )
    assert backwards.json()["error"]["code"] == "bad_span"


async def test_paging_finds_every_alert_at_a_moment(
    hub: Hub, client: httpx.AsyncClient, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "PAGE", 3)
    base = datetime(2024, 5, 1, tzinfo=UTC)
    for oblast in catalogue.oblasts[:8]:
        await hub.submit(Declare(oblast.id, Threat.AIR_RAID, occurred_at=base), ADMIN)
    answer = await client.get("/api/v1/map/at", params={"time": "2024-05-01T01:00Z"})
    assert {a["region_id"] for a in answer.json()["alerts"]} == {
        o.id for o in catalogue.oblasts[:8]
    }


async def test_locate_by_point_and_by_name(client: httpx.AsyncClient, catalogue: Catalogue) -> None:
    hromada = next(
        r for r in catalogue if r.level is Level.HROMADA and r.name_en == "Bilotserkivska"
    )
    point = catalogue.boundary(hromada.id).representative_point()
    found = await client.get("/api/v1/map/locate", params={"lat": point.y, "lon": point.x})
    body = found.json()["regions"][0]
    assert body["id"] == hromada.id
    assert [a["id"] for a in body["ancestors"]] == [
        a.id for a in catalogue.ancestors(hromada.id) if a.level is not Level.COUNTRY
    ]
    sea = await client.get("/api/v1/map/locate", params={"lat": 43.5, "lon": 34.0})
    assert sea.status_code == 404
    assert sea.json()["error"]["code"] == "outside_ukraine"
    named = await client.get("/api/v1/map/locate", params={"q": "Харківська область"})
    assert [r["id"] for r in named.json()["regions"]] == [_oblast(catalogue, "Kharkivska")]
    typo = await client.get("/api/v1/map/locate", params={"q": "Kharkivskaa oblast"})
    assert typo.json()["regions"] == []
    assert _oblast(catalogue, "Kharkivska") in [r["id"] for r in typo.json()["suggestions"]]
    empty = await client.get("/api/v1/map/locate")
    assert empty.json()["error"]["code"] == "nothing_to_locate"
    bad = await client.get("/api/v1/map/locate", params={"lat": 200, "lon": 30})
    assert bad.status_code == 422


# Instants where "today in Kyiv" is easy to get wrong: the UTC date is not Kyiv's, the last and
# first minutes of a Kyiv day, summer time, and the 23- and 25-hour days when it starts and ends.
KYIV_DAY_EDGES = {
    "23:30 UTC, already tomorrow in Kyiv": datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
    "a minute before midnight in Kyiv": datetime(2026, 12, 1, 21, 58, 59, tzinfo=UTC),
    "half a minute after midnight in Kyiv": datetime(2026, 12, 1, 22, 0, 30, tzinfo=UTC),
    "summer, 00:30 in Kyiv": datetime(2026, 7, 1, 21, 30, tzinfo=UTC),
    "the 23-hour day summer time starts": datetime(2026, 3, 29, 20, 30, tzinfo=UTC),
    "the 25-hour day summer time ends": datetime(2026, 10, 25, 21, 30, tzinfo=UTC),
}


@pytest.mark.parametrize("now", KYIV_DAY_EDGES.values(), ids=KYIV_DAY_EDGES.keys())
async def test_todays_count_counts_alerts_over_and_within_a_region(
    catalogue: Catalogue, sqlite_url: str, now: datetime
) -> None:
    """The hub's clock is set to `now`; "today" is the Kyiv calendar day holding it."""
    kyiv = ZoneInfo("Europe/Kyiv")
    midnight = datetime.combine(now.astimezone(kyiv).date(), time(0), kyiv)
    hub = Hub(catalogue, SqlStore(sqlite_url), clock=lambda: now)
    hub.load()
    app = create_app(hub, Settings(db=sqlite_url, load_history=False))
    oblast = catalogue.oblasts[1]
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    other = catalogue.oblasts[2]
    try:
        yesterday = await hub.submit(
            Declare(oblast.id, Threat.AIR_RAID, occurred_at=midnight - timedelta(hours=3)), ADMIN
        )
        await hub.submit(
            End(AlertRef(yesterday.event.alert_id), occurred_at=midnight - timedelta(hours=2)),
            ADMIN,
        )
        over_midnight = await hub.submit(
            Declare(oblast.id, Threat.AIR_RAID, occurred_at=midnight - timedelta(minutes=5)),
            ADMIN,
        )
        ended = min(now, midnight + timedelta(minutes=5))
        await hub.submit(End(AlertRef(over_midnight.event.alert_id), occurred_at=ended), ADMIN)
        await hub.submit(Declare(raion.id, Threat.AIR_RAID, occurred_at=now), ADMIN)
        await hub.submit(Declare(other.id, Threat.AIR_RAID), ADMIN)
        await hub.submit(Declare(hromada.id, Threat.AIR_RAID, status=AlertStatus.EXERCISE), ADMIN)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def count(region_id: str) -> int:
                answer = await client.get(f"/api/v1/map/regions/{region_id}/today")
                assert answer.status_code == 200
                assert datetime.fromisoformat(answer.json()["since"]) == midnight
                return answer.json()["count"]

            assert await count(hromada.id) == 2  # the oblast's alert over midnight and the raion's
            assert await count(oblast.id) == 2
            assert await count(other.id) == 1
            unknown = await client.get("/api/v1/map/regions/nope/today")
            assert unknown.json()["error"]["code"] == "unknown_region"
    finally:
        hub.close()


def test_kyiv_midnight_follows_summer_time() -> None:
    assert web.kyiv_midnight(datetime(2023, 3, 9, 4, 0, tzinfo=UTC)) == datetime(
        2023, 3, 8, 22, 0, tzinfo=UTC
    )
    assert web.kyiv_midnight(datetime(2023, 7, 1, 12, 0, tzinfo=UTC)) == datetime(
        2023, 6, 30, 21, 0, tzinfo=UTC
    )
