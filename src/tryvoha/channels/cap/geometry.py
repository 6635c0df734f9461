"""CAP polygons of a region: its boundary, simplified to at most 100 coordinate pairs in all.

CAP receivers (WEA, cell broadcast gateways) take at most 100 pairs, and every pair costs bytes
in every message. The boundary is grown by the simplification tolerance before it is simplified,
so the polygon *contains* the region (it warns a little beyond the border, never short of it).
Holes are filled (Kyiv oblast's polygon covers Kyiv city) and parts under 0.5 % of the area are left
to the geocodes. Pairs are `lat,lon` with four decimals (about 11 m), the ring closed.
"""

from __future__ import annotations

import threading

import shapely
from shapely.geometry import MultiPolygon, Polygon

from tryvoha.regions import Catalogue

MAX_PAIRS = 100
MAX_PARTS = 4
MIN_PART_SHARE = 0.005
DECIMALS = 4
FIRST_TOLERANCE = 0.002  # degrees, about 200 m


def _outer(part: Polygon) -> Polygon:
    return Polygon(part.exterior)


def _largest(geom: object) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    assert isinstance(geom, MultiPolygon)
    return max(geom.geoms, key=lambda g: g.area)


def _ring(poly: Polygon) -> list[tuple[float, float]]:
    """Rounded (lat, lon) pairs, consecutive repeats dropped, closed."""
    pairs: list[tuple[float, float]] = []
    for lon, lat in poly.exterior.coords:
        pair = (round(lat, DECIMALS), round(lon, DECIMALS))
        if not pairs or pairs[-1] != pair:
            pairs.append(pair)
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    return pairs


def _envelope(poly: Polygon) -> list[tuple[float, float]]:
    envelope = shapely.envelope(poly)
    assert isinstance(envelope, Polygon)  # a boundary has an area, so its envelope too
    return _ring(envelope)


def simplified_rings(boundary: MultiPolygon, max_pairs: int = MAX_PAIRS) -> list[list]:
    """The rings (lists of (lat, lon), closed) of a boundary within `max_pairs` in total."""
    parts = sorted(boundary.geoms, key=lambda g: g.area, reverse=True)
    total = boundary.area
    kept = [_outer(p) for p in parts if p.area >= MIN_PART_SHARE * total][:MAX_PARTS]
    kept = kept or [_outer(parts[0])]
    tolerance = FIRST_TOLERANCE
    while True:
        rings = []
        for part in kept:
            grown = _largest(part.buffer(tolerance, quad_segs=2))
            rings.append(_ring(_largest(grown.simplify(tolerance, preserve_topology=True))))
        if sum(len(r) for r in rings) <= max_pairs or tolerance > 1.0:
            break
        tolerance *= 1.6
    fixed = [r if len(r) >= 4 else _envelope(p) for r, p in zip(rings, kept, strict=True)]
    while sum(len(r) for r in fixed) > max_pairs and len(fixed) > 1:
        fixed.pop()  # only a very fragmented boundary at the coarsest tolerance gets here
    return fixed


def ring_text(ring: list[tuple[float, float]]) -> str:
    return " ".join(f"{lat:.{DECIMALS}f},{lon:.{DECIMALS}f}" for lat, lon in ring)


class PolygonCache:
    """CAP `<polygon>` texts per region, computed once (at most one entry per region)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._texts: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def polygons(self, region_id: str) -> tuple[str, ...]:
        found = self._texts.get(region_id)
        if found is None:
            rings = simplified_rings(self.catalogue.boundary(region_id))
            found = tuple(ring_text(r) for r in rings)
            with self._lock:
                self._texts[region_id] = found
        return found
