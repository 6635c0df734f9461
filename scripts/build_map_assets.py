#!/usr/bin/env python3
"""Build the alarm map's boundaries asset from the region catalogue.

    .venv/bin/python scripts/build_map_assets.py            # → src/tryvoha/web/static/map.json.gz

Rerun when the catalogue's boundaries change. The output is a TopoJSON-like topology: every
border between two hromadas is stored once as a shared "arc", so neighbours can never drift apart
after simplification, raion and oblast outlines are just the arcs whose two sides differ, and the
file stays small (the page must transfer well under 2 MB).

Steps: hromada boundaries → `shapely.coverage_simplify` (topology-preserving on the whole
coverage) → Web Mercator, rounded to a grid of `UNIT` metres → rings cut into arcs at junctions
(points where the set of neighbouring rings changes) → identical arcs merged → each arc tagged with
the highest level it separates (hromada/raion/oblast/country). Output is deterministic.

Format (all coordinates integers on the grid; x grows east, y grows south):
  regions: [[id, level, parent_index, name_uk, name_en, label_uk, label_en], ...] in tree order
  arcs:    [[x0, y0, dx1, dy1, dx2, dy2, ...], ...] delta-coded
  arc_level: per arc 0 hromada, 1 raion, 2 oblast, 3 country border
  shapes:  {region_index: [[ring arcs], ...]} for hromadas; arc k read backwards is ~k (-k-1)
  outlines:{region_index: [arc, ...]} the boundary arcs of every raion and oblast
  labels:  {region_index: [x, y]} a point well inside each oblast
  transform: {unit, x0, y0} so that mercator metres = (x * unit + x0, -(y * unit) + y0)
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tryvoha.regions import Catalogue, Level, load_catalogue  # noqa: E402

OUT = REPO / "src" / "tryvoha" / "web" / "static" / "map.json.gz"
UNIT = 100.0  # metres of Web Mercator per grid step (about 65 m on the ground in Ukraine)
TOLERANCE = 0.0015  # degrees, for coverage_simplify
EARTH = 6378137.0
LEVEL_CODE = {Level.COUNTRY: 0, Level.OBLAST: 1, Level.RAION: 2, Level.HROMADA: 3}

Point = tuple[int, int]


def mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = EARTH * np.radians(lon)
    y = EARTH * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    return x, y


def polygons_of(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for part in getattr(geom, "geoms", []) for g in polygons_of(part)]


class Grid:
    """Projects lon/lat onto the integer grid anchored at the country's north-west corner."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        x0, y1 = mercator(np.array([bounds[0]]), np.array([bounds[3]]))
        self.x0 = math.floor(float(x0[0]) / UNIT) * UNIT
        self.y0 = math.ceil(float(y1[0]) / UNIT) * UNIT

    def ring(self, coords: np.ndarray) -> list[Point]:
        x, y = mercator(coords[:, 0], coords[:, 1])
        gx = np.rint((x - self.x0) / UNIT).astype(np.int64)
        gy = np.rint((self.y0 - y) / UNIT).astype(np.int64)
        out: list[Point] = []
        for p in zip(gx.tolist(), gy.tolist(), strict=True):
            if not out or out[-1] != p:
                out.append(p)
        if len(out) > 1 and out[0] == out[-1]:
            out.pop()
        return out


def ring_area(ring: list[Point]) -> float:
    return 0.5 * sum(
        ring[i][0] * ring[i - 1][1] - ring[i - 1][0] * ring[i][1] for i in range(len(ring))
    )


def find_junctions(rings: list[list[Point]]) -> set[Point]:
    """Points where the neighbourhood changes: there an arc must start or end."""
    seen: dict[Point, frozenset[Point]] = {}
    junctions: set[Point] = set()
    for ring in rings:
        n = len(ring)
        for i, p in enumerate(ring):
            pair = frozenset((ring[i - 1], ring[(i + 1) % n]))
            known = seen.get(p)
            if known is None:
                seen[p] = pair
            elif known != pair:
                junctions.add(p)
    return junctions


class ArcTable:
    """Deduplicates arcs; an arc met backwards is referenced as ~index."""

    def __init__(self) -> None:
        self.arcs: list[list[Point]] = []
        self._index: dict[tuple[Point, ...], int] = {}

    def add(self, points: list[Point]) -> int:
        key = tuple(points)
        if key in self._index:
            return self._index[key]
        back = tuple(reversed(points))
        if back in self._index:
            return ~self._index[back]
        self._index[key] = len(self.arcs)
        self.arcs.append(points)
        return len(self.arcs) - 1


def cut_ring(ring: list[Point], junctions: set[Point], table: ArcTable) -> list[int]:
    cuts = [i for i, p in enumerate(ring) if p in junctions]
    if not cuts:
        # A ring with no junction is one closed arc; start it at its smallest point so the
        # same ring met from another side (an enclave's hole) matches it.
        start = ring.index(min(ring))
        rotated = ring[start:] + ring[:start]
        return [table.add([*rotated, rotated[0]])]
    start = cuts[0]
    rotated = ring[start:] + ring[:start]
    marks = [i - start if i >= start else i - start + len(ring) for i in cuts]
    marks.append(len(ring))
    closed = [*rotated, rotated[0]]
    return [table.add(closed[a : b + 1]) for a, b in itertools.pairwise(marks)]


def arc_ref(k: int) -> int:
    return k if k >= 0 else ~k


def build(catalogue: Catalogue) -> dict:
    regions = list(catalogue)
    index = {r.id: i for i, r in enumerate(regions)}
    hromadas = [r for r in regions if r.level is Level.HROMADA]
    raw = np.array([catalogue.boundary(r.id) for r in hromadas], dtype=object)
    simple = shapely.coverage_simplify(raw, TOLERANCE)
    grid = Grid(catalogue.boundary(catalogue.country.id).bounds)

    shapes_pts: dict[int, list[list[Point]]] = {}
    for region, geom in zip(hromadas, simple, strict=True):
        rings: list[list[Point]] = []
        for poly in polygons_of(geom):
            outer = grid.ring(np.asarray(poly.exterior.coords))
            if len(outer) < 3 or ring_area(outer) == 0:
                continue
            rings.append(outer)
            for hole in poly.interiors:
                inner = grid.ring(np.asarray(hole.coords))
                if len(inner) >= 3 and ring_area(inner) != 0:
                    rings.append(inner)
        if not rings:
            raise SystemExit(f"{region.id} lost its whole shape on the grid")
        shapes_pts[index[region.id]] = rings

    all_rings = [ring for rings in shapes_pts.values() for ring in rings]
    junctions = find_junctions(all_rings)
    table = ArcTable()
    shapes: dict[int, list[list[int]]] = {}
    users: dict[int, set[int]] = defaultdict(set)
    for idx, rings in shapes_pts.items():
        shapes[idx] = []
        for ring in rings:
            refs = cut_ring(ring, junctions, table)
            shapes[idx].append(refs)
            for k in refs:
                users[arc_ref(k)].add(idx)

    levels, outlines = classify_arcs(catalogue, regions, table.arcs, users, raw, hromadas, index)
    labels = {}
    for oblast in catalogue.oblasts:
        geom = catalogue.boundary(oblast.id)
        biggest = max(polygons_of(geom), key=lambda p: p.area)
        centre = shapely.maximum_inscribed_circle(biggest, 0.01).coords[0]
        x, y = grid.ring(np.array([centre, centre, centre]))[0]
        labels[index[oblast.id]] = [x, y]

    return {
        "version": 1,
        "transform": {"unit": UNIT, "x0": grid.x0, "y0": grid.y0},
        "regions": [
            [
                r.id,
                LEVEL_CODE[r.level],
                index[r.parent_id] if r.parent_id else -1,
                r.name_uk,
                r.name_en,
                r.label("uk"),
                r.label("en"),
            ]
            for r in regions
        ],
        "arcs": [delta(a) for a in table.arcs],
        "arc_level": levels,
        "shapes": {str(k): v for k, v in shapes.items()},
        "outlines": {str(k): v for k, v in outlines.items()},
        "labels": {str(k): v for k, v in labels.items()},
    }


def classify_arcs(catalogue, regions, arcs, users, raw, hromadas, index):
    """Tag every arc with the highest level it separates, and list each raion's and oblast's
    boundary arcs. An arc with one user lies on the country border, or on a sliver of the
    source data where neighbours do not share vertices: then its nearest other hromada decides."""
    parents = {i: index[r.parent_id] for i, r in enumerate(regions) if r.parent_id}
    tree = shapely.STRtree(raw)
    border = catalogue.boundary(catalogue.country.id).boundary
    shapely.prepare(border)
    hromada_idx = [index[h.id] for h in hromadas]
    grid = Grid(catalogue.boundary(catalogue.country.id).bounds)

    def to_lonlat(p: Point) -> tuple[float, float]:
        x = p[0] * UNIT + grid.x0
        y = grid.y0 - p[1] * UNIT
        lon = math.degrees(x / EARTH)
        lat = math.degrees(2 * math.atan(math.exp(y / EARTH)) - math.pi / 2)
        return lon, lat

    levels: list[int] = []
    sides: list[tuple[int, int | None]] = []
    for k, arc in enumerate(arcs):
        owners = sorted(users[k])
        if len(owners) >= 2:
            a, b = owners[0], owners[1]
        else:
            a, b = owners[0], None
            mid = LineString([to_lonlat(p) for p in arc]).interpolate(0.5, normalized=True)
            if border.distance(mid) > 0.01:
                near = [int(j) for j in tree.query(mid.buffer(0.02))]
                near = [j for j in near if hromada_idx[j] != a]
                if near:
                    j = min(near, key=lambda j: raw[j].distance(mid))
                    b = hromada_idx[j]
        sides.append((a, b))
        if b is None:
            levels.append(3)
        elif parents[parents[a]] != parents[parents[b]]:
            levels.append(2)
        elif parents[a] != parents[b]:
            levels.append(1)
        else:
            levels.append(0)

    outlines: dict[int, list[int]] = defaultdict(list)
    for k, (a, b) in enumerate(sides):
        for side in (a, b):
            if side is None:
                continue
            other = b if side == a else a
            raion, oblast = parents[side], parents[parents[side]]
            other_raion = parents[other] if other is not None else None
            other_oblast = parents[other_raion] if other_raion is not None else None
            if raion != other_raion:
                outlines[raion].append(k)
            if oblast != other_oblast:
                outlines[oblast].append(k)
    return levels, {k: sorted(set(v)) for k, v in outlines.items()}


def delta(points: list[Point]) -> list[int]:
    out = [points[0][0], points[0][1]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [x1 - x0, y1 - y0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    doc = build(load_catalogue())
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    print(
        f"{args.out}: {len(doc['arcs'])} arcs, "
        f"{sum(len(a) // 2 for a in doc['arcs'])} points, "
        f"{len(body) / 1e6:.2f} MB raw, {args.out.stat().st_size / 1e3:.0f} kB gzip"
    )


if __name__ == "__main__":
    main()
