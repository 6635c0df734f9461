"""channels/cap/geometry.py: a boundary as CAP polygons, within 100 pairs, never short of it."""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from tryvoha.channels.cap.geometry import MAX_PAIRS, MAX_PARTS, ring_text, simplified_rings


def as_polygon(ring: list[tuple[float, float]]) -> Polygon:
    return Polygon([(lon, lat) for lat, lon in ring])  # rings are (lat, lon); shapely (x=lon, y)


def test_a_simple_boundary_is_one_closed_ring_of_lat_lon_pairs_covering_it() -> None:
    square = box(30.0, 50.0, 30.5, 50.25)  # lon 30..30.5, lat 50..50.25
    (ring,) = simplified_rings(MultiPolygon([square]))
    assert ring[0] == ring[-1] and len(ring) >= 4
    assert all(49.9 < lat < 50.4 and 29.9 < lon < 30.6 for lat, lon in ring)
    assert as_polygon(ring).covers(square)
    assert all(round(v, 4) == v for pair in ring for v in pair)


def test_a_detailed_boundary_is_simplified_within_the_limit_and_still_covers_it() -> None:
    circle = Point(31.0, 49.0).buffer(0.8, quad_segs=500)  # 2,000 vertices
    rings = simplified_rings(MultiPolygon([circle]))
    assert sum(len(r) for r in rings) <= MAX_PAIRS
    assert shapely.union_all([as_polygon(r) for r in rings]).covers(circle)


def test_holes_are_filled_and_crumbs_are_left_to_the_geocodes() -> None:
    with_hole = box(30, 50, 31, 51).difference(box(30.4, 50.4, 30.6, 50.6))
    crumb = box(32, 50, 32.001, 50.001)  # far under 0.5 % of the area
    rings = simplified_rings(MultiPolygon([with_hole, crumb]))
    assert len(rings) == 1
    assert as_polygon(rings[0]).covers(box(30.4, 50.4, 30.6, 50.6))


def test_at_most_four_parts_the_largest_first() -> None:
    parts = [box(30 + 2 * i, 50, 31 + 2 * i, 50 + 1 - 0.1 * i) for i in range(6)]
    rings = simplified_rings(MultiPolygon(parts))
    assert len(rings) == MAX_PARTS
    assert as_polygon(rings[0]).covers(parts[0])
    assert not any(as_polygon(r).intersects(parts[5]) for r in rings)


def test_a_ring_is_written_as_cap_wants_it() -> None:
    assert ring_text([(50.45, 30.5234), (50.5, 30.6), (50.45, 30.5234)]) == (
        "50.4500,30.5234 50.5000,30.6000 50.4500,30.5234"
    )
