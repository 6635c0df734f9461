"""Boundaries on disk and point-in-hromada lookup.

Coordinates are kept on the 1e-5 degree grid of the source (about 1 m) as delta-coded integers,
which compresses far better than WKB and decodes exactly (n / 1e5 is the same double as parsing
the source's 5-decimal text).

Point lookup uses a regular grid over Ukraine's bounding box, computed by the build script: a
cell wholly inside one hromada answers directly; a boundary cell lists the few hromadas touching
it and only those polygons are tested. Most points never reach a polygon test, and a boundary
point tests ~2 prepared polygons, so the cost does not grow with polygon detail. Points in the
sea, in holes of the boundary data (the Syvash lagoon) or abroad answer -1: never the nearest
region.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import GeometryType

SCALE = 100_000  # coordinates are integers of 1e-5 degree


def encode_geometries(geoms: np.ndarray) -> dict[str, np.ndarray]:
    """(Multi)polygons → integer arrays; every geometry is stored as a MultiPolygon."""
    multi = np.array(
        [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms],
        dtype=object,
    )
    _, coords, (ring_off, poly_off, geom_off) = shapely.to_ragged_array(multi)
    ints = np.rint(coords * SCALE).astype(np.int64)
    if not np.array_equal(ints / SCALE, coords):
        raise ValueError("coordinates are not on the 1e-5 degree grid")
    deltas = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return {
        "coords_delta": deltas.astype(np.int32),
        "ring_offsets": ring_off.astype(np.int32),
        "polygon_offsets": poly_off.astype(np.int32),
        "geometry_offsets": geom_off.astype(np.int32),
    }


def decode_geometries(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Inverse of `encode_geometries`: an object array of shapely MultiPolygons."""
    coords = np.cumsum(arrays["coords_delta"], axis=0, dtype=np.int64) / SCALE
    offsets = (
        arrays["ring_offsets"].astype(np.int64),
        arrays["polygon_offsets"].astype(np.int64),
        arrays["geometry_offsets"].astype(np.int64),
    )
    return shapely.from_ragged_array(GeometryType.MULTIPOLYGON, coords, offsets)


def build_grid(
    geoms: np.ndarray, bounds: tuple[float, float, float, float], cell: float
) -> dict[str, np.ndarray]:
    """Classify every grid cell: inside one polygon (its index), outside all (-1), or boundary
    (-2 - k, where list k of `members[offsets[k]:offsets[k+1]]` names the polygons touching it).
    """
    lon0, lat0, lon1, lat1 = bounds
    nx = math.ceil((lon1 - lon0) / cell)
    ny = math.ceil((lat1 - lat0) / cell)
    covered = np.full((ny, nx), -1, dtype=np.int32)
    touching: dict[int, list[int]] = {}
    for i, geom in enumerate(geoms):
        shapely.prepare(geom)
        gx0, gy0, gx1, gy1 = geom.bounds
        ix0, iy0 = int((gx0 - lon0) // cell), int((gy0 - lat0) // cell)
        ix1, iy1 = int((gx1 - lon0) // cell), int((gy1 - lat0) // cell)
        grid_x, grid_y = np.meshgrid(np.arange(ix0, ix1 + 1), np.arange(iy0, iy1 + 1))
        xs, ys = grid_x.ravel(), grid_y.ravel()
        boxes = shapely.box(
            lon0 + xs * cell, lat0 + ys * cell, lon0 + (xs + 1) * cell, lat0 + (ys + 1) * cell
        )
        hit = shapely.intersects(geom, boxes)
        inside = hit & shapely.covers(geom, boxes)
        covered[ys[inside], xs[inside]] = i
        for flat in (ys[hit & ~inside] * nx + xs[hit & ~inside]).tolist():
            touching.setdefault(flat, []).append(i)
        shapely.destroy_prepared(geom)
    grid = covered.copy()
    lists: dict[tuple[int, ...], int] = {}
    for flat in sorted(touching):
        y, x = divmod(flat, nx)
        if covered[y, x] >= 0:
            continue
        key = tuple(sorted(set(touching[flat])))
        k = lists.setdefault(key, len(lists))
        grid[y, x] = -2 - k
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    members: list[int] = []
    for key, k in sorted(lists.items(), key=lambda kv: kv[1]):
        members.extend(key)
        offsets[k + 1] = len(members)
    return {
        "grid": grid,
        "grid_offsets": offsets,
        "grid_members": np.asarray(members, dtype=np.int32),
        "grid_origin": np.asarray([lon0, lat0, cell], dtype=np.float64),
    }


class PointIndex:
    """Answers which polygon (by position in `geoms`) holds a point; -1 for none."""

    def __init__(self, geoms: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        self._geoms = geoms
        self._grid = np.ascontiguousarray(arrays["grid"])
        self._offsets = arrays["grid_offsets"].astype(np.int64)
        self._members = arrays["grid_members"].astype(np.int64)
        lon0, lat0, cell = (float(v) for v in arrays["grid_origin"])
        self._lon0, self._lat0, self._cell = lon0, lat0, cell
        self._ny, self._nx = self._grid.shape
        self._prepared = np.zeros(len(geoms), dtype=bool)
        # Python lists make the single-point path cheaper than numpy scalar indexing.
        self._members_list = self._members.tolist()
        self._offsets_list = self._offsets.tolist()

    def _prepare(self, idx: np.ndarray) -> None:
        todo = idx[~self._prepared[idx]]
        if todo.size:
            shapely.prepare(self._geoms[todo])
            self._prepared[todo] = True

    def prepare_all(self) -> None:
        """Prepare every polygon now instead of on first use (for steady timings)."""
        self._prepare(np.arange(len(self._geoms)))

    def lookup(self, lon: float, lat: float) -> int:
        """The polygon index holding (lon, lat), or -1."""
        fx = (lon - self._lon0) / self._cell
        fy = (lat - self._lat0) / self._cell
        if not (0.0 <= fx < self._nx and 0.0 <= fy < self._ny):  # also rejects NaN
            return -1
        v = int(self._grid[int(fy), int(fx)])
        if v >= -1:
            return v
        k = -2 - v
        for i in self._members_list[self._offsets_list[k] : self._offsets_list[k + 1]]:
            geom = self._geoms[i]
            if not self._prepared[i]:
                shapely.prepare(geom)
                self._prepared[i] = True
            if shapely.contains_xy(geom, lon, lat):
                return i
        return -1

    def lookup_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Vectorised `lookup`: an int32 array of polygon indexes (-1 = none)."""
        lons = np.asarray(lons, dtype=np.float64).ravel()
        lats = np.asarray(lats, dtype=np.float64).ravel()
        if lons.shape != lats.shape:
            raise ValueError("lons and lats must have the same length")
        out = np.full(lons.shape, -1, dtype=np.int32)
        fx = (lons - self._lon0) / self._cell
        fy = (lats - self._lat0) / self._cell
        ok = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)
        pts = np.flatnonzero(ok)
        v = self._grid[fy[pts].astype(np.intp), fx[pts].astype(np.intp)]
        direct = v >= -1
        out[pts[direct]] = v[direct]
        edge = pts[~direct]
        if edge.size == 0:
            return out
        k = -2 - v[~direct].astype(np.int64)
        start, stop = self._offsets[k], self._offsets[k + 1]
        counts = stop - start
        pair_pt = np.repeat(edge, counts)
        first = np.repeat(start - (np.cumsum(counts) - counts), counts)
        pair_geom = self._members[first + np.arange(pair_pt.size)]
        self._prepare(np.unique(pair_geom))
        inside = shapely.contains_xy(self._geoms[pair_geom], lons[pair_pt], lats[pair_pt])
        # Where slivers overlap, the lowest index wins, as in `lookup`: write in reverse order.
        hits = np.flatnonzero(inside)[::-1]
        out[pair_pt[hits]] = pair_geom[hits]
        return out
