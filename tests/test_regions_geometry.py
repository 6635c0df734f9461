"""Boundaries and point lookup, checked against shapely's own predicates (no stored answers)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.regions import Catalogue, Level

TOL = 2e-5  # degrees (~2 m): the source grid is 1e-5; dissolving snaps to it


@pytest.fixture(scope="module")
def hromadas(catalogue: Catalogue) -> list:
    return [r for r in catalogue if r.level is Level.HROMADA]


@pytest.fixture(scope="module")
def tree(catalogue: Catalogue, hromadas: list) -> shapely.STRtree:
    return shapely.STRtree([catalogue.boundary(h.id) for h in hromadas])


def _brute(catalogue, hromadas, tree, lats, lons) -> np.ndarray:
    """Reference answer: shapely STRtree 'within' query, lowest tree index on overlap."""
    pts = shapely.points(lons, lats)
    pi, gi = tree.query(pts, predicate="within")
    out = np.full(len(pts), -1)
    idx = np.array([catalogue.index_of(h.id) for h in hromadas])
    order = np.lexsort((-idx[gi], pi))  # per point, highest index first; the last write wins
    out[pi[order]] = idx[gi][order]
    return out


def test_every_boundary_is_valid_and_nests(catalogue: Catalogue) -> None:
    for r in catalogue:
        g = catalogue.boundary(r.id)
        assert g.is_valid and not g.is_empty and g.geom_type == "MultiPolygon"
        if r.parent_id is None:
            continue
        parent = catalogue.boundary(r.parent_id)
        outside = g.difference(parent).area
        assert outside <= 1e-6 * g.area, (r, outside)
        assert parent.buffer(TOL).covers(g), r


def test_parents_are_exactly_their_children(catalogue: Catalogue) -> None:
    """Dissolved from hromadas: a parent's area is its children's, and edges line up."""
    for r in catalogue:
        kids = catalogue.children(r.id)
        if not kids:
            continue
        g = catalogue.boundary(r.id)
        union = shapely.union_all([catalogue.boundary(k.id) for k in kids])
        assert g.symmetric_difference(union).area <= 1e-6 * g.area, r
        assert abs(sum(catalogue.boundary(k.id).area for k in kids) - g.area) <= 1e-4 * g.area


def test_each_hromada_answers_for_its_own_interior(catalogue: Catalogue, hromadas: list) -> None:
    pts = [shapely.point_on_surface(catalogue.boundary(h.id)) for h in hromadas]
    lats = np.array([p.y for p in pts])
    lons = np.array([p.x for p in pts])
    got = catalogue.at_many(lats, lons)
    want = np.array([catalogue.index_of(h.id) for h in hromadas])
    # a point on a surface can sit on a shared edge (then the neighbour may answer); none may miss
    assert (got >= 0).all()
    assert (got == want).mean() > 0.99
    for h, lat, lon in zip(hromadas[:200], lats, lons, strict=False):
        r = catalogue.at(lat, lon)
        assert r is not None and catalogue.is_within(r.id, h.parent_id)


def test_random_points_match_a_brute_force_search(catalogue, hromadas, tree) -> None:
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = catalogue.boundary("UA").bounds
    lons = rng.uniform(x0 - 1, x1 + 1, 100_000)
    lats = rng.uniform(y0 - 1, y1 + 1, 100_000)
    got = catalogue.at_many(lats, lons)
    want = _brute(catalogue, hromadas, tree, lats, lons)
    assert (got == -1).any() and (got >= 0).any()
    assert np.array_equal(got, want)
    for i in range(0, 100_000, 97):
        r = catalogue.at(lats[i], lons[i])
        assert (r.id if r else None) == (catalogue.by_index(got[i]).id if got[i] >= 0 else None)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=43.0, max_value=54.0, allow_nan=False),
    lon=st.floats(min_value=20.0, max_value=42.0, allow_nan=False),
)
def test_point_lookup_agrees_with_the_polygons(
    catalogue: Catalogue, lat: float, lon: float
) -> None:
    r = catalogue.at(lat, lon)
    if r is None:
        hit = [
            h
            for h in catalogue.oblasts
            if catalogue.boundary(h.id).contains(shapely.Point(lon, lat))
        ]
        assert not hit
    else:
        assert r.level is Level.HROMADA
        assert catalogue.boundary(r.id).contains(shapely.Point(lon, lat))


def test_outside_and_sea_points_are_in_no_region(catalogue: Catalogue) -> None:
    country = catalogue.boundary("UA")
    probes = {
        "Black Sea": (44.5, 32.0),
        "Sea of Azov": (46.3, 36.5),
        "Warsaw": (52.23, 21.01),
        "Chișinău": (47.01, 28.86),
        "Minsk": (53.9, 27.56),
        "Belgorod": (50.6, 36.6),
        "null island": (0.0, 0.0),
    }
    for name, (lat, lon) in probes.items():
        assert not country.intersects(shapely.Point(lon, lat)), name  # the premise, checked
        assert catalogue.at(lat, lon) is None, name
        assert catalogue.at(lat, lon, level=Level.OBLAST) is None
    lats = np.array([p[0] for p in probes.values()] + [np.nan, 91.0])
    lons = np.array([p[1] for p in probes.values()] + [30.0, 30.0])
    assert (catalogue.at_many(lats, lons) == -1).all()
    assert catalogue.ids_at_many(lats, lons) == [None] * len(lats)


def test_lookup_up_the_tree(catalogue: Catalogue) -> None:
    rng = np.random.default_rng(3)
    lats, lons = rng.uniform(44.3, 52.4, 20_000), rng.uniform(22.1, 40.3, 20_000)
    h = catalogue.at_many(lats, lons)
    for level in (Level.RAION, Level.OBLAST, Level.COUNTRY):
        up = catalogue.at_many(lats, lons, level=level)
        assert ((up == -1) == (h == -1)).all()
        for i in np.flatnonzero(h >= 0)[:500]:
            assert catalogue.by_index(up[i]) == catalogue.ancestor_at(
                catalogue.by_index(h[i]).id, level
            )
    ids = catalogue.ids_at_many(lats[:100], lons[:100], level="oblast")
    assert all(i is None or catalogue.get(i).level is Level.OBLAST for i in ids)


def test_named_seats_lie_in_the_hromadas_the_ids_map_to(catalogue: Catalogue) -> None:
    """Independent check of the same-name decisions: the cities' own coordinates."""
    assert catalogue.at(47.653, 34.117) is catalogue.by_ukrainealarm_id("354")  # м. Покров
    assert catalogue.at(46.301, 30.655) is catalogue.by_ukrainealarm_id("969")  # м. Чорноморськ
    assert catalogue.at(49.993, 36.231) is catalogue.by_alerts_in_ua_uid(1293)  # Харків
    assert catalogue.at(47.838, 35.139) is catalogue.by_alerts_in_ua_uid(564)  # Запоріжжя
    assert catalogue.at(50.450, 30.523, level="oblast") is catalogue.by_ukrainealarm_id("31")
