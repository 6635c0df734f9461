"""The catalogue: every unit of the tree, with lookups by id, external id, name and point.

Built from package data only (see `scripts/build_regions.py`); boundaries and the point index are
read on first use, so importing code that only needs ids and names stays fast.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import MultiPolygon

from tryvoha.regions import names as nm
from tryvoha.regions.model import AmbiguousRegion, Level, Region, UnknownRegion
from tryvoha.regions.spatial import PointIndex, decode_geometries
from tryvoha.regions.storage import read_arrays, read_json_gz

_DEPTH = {Level.COUNTRY: 0, Level.OBLAST: 1, Level.RAION: 2, Level.HROMADA: 3}


def region_dict(region: Region) -> dict[str, Any]:
    """A JSON-ready dict of a region (level as its string value)."""
    out = asdict(region)
    out["level"] = str(region.level)
    return out


class Catalogue:
    """All units of Ukraine's administrative tree, in tree order, with typed lookups."""

    def __init__(
        self,
        regions: Sequence[Region],
        aliases: Mapping[str, Sequence[str]] | None = None,
        *,
        exact_aliases: Mapping[str, Sequence[str]] | None = None,
        qualifiers: Mapping[str, str] | None = None,
        katottg_folded: Mapping[str, str] | None = None,
        geometry_path: Path | None = None,
    ) -> None:
        self._regions: tuple[Region, ...] = tuple(regions)
        self._index: dict[str, int] = {r.id: i for i, r in enumerate(self._regions)}
        if len(self._index) != len(self._regions):
            raise ValueError("duplicate region ids")
        self._aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self._geometry_path = geometry_path
        self._qualifiers = dict(qualifiers or {})
        self._children: dict[str | None, list[int]] = {}
        for i, r in enumerate(self._regions):
            self._children.setdefault(r.parent_id, []).append(i)
        self._parent_idx = np.array(
            [self._index[r.parent_id] if r.parent_id else -1 for r in self._regions], dtype=np.int32
        )
        self._by_ua: dict[str, int] = {}
        self._by_aiu: dict[int, int] = {}
        self._by_katottg: dict[str, int] = {}
        self._by_pcode: dict[str, int] = {}
        for i, r in enumerate(self._regions):
            if r.ukrainealarm_id is not None:
                self._by_ua[r.ukrainealarm_id] = i
            if r.alerts_in_ua_uid is not None:
                self._by_aiu[r.alerts_in_ua_uid] = i
            if r.katottg is not None:
                self._by_katottg[r.katottg] = i
            self._by_pcode[r.pcode] = i
        for code, region_id in (katottg_folded or {}).items():
            self._by_katottg.setdefault(code, self._index[region_id])
        # Two key tables per script: "full" keys keep the level word and are tried first, so
        # "Kyiv Oblast" (Київська) is not read as "Kyiv" + a level hint (the city);
        # bare keys drop it, so "Харківська обл." still finds the oblast.
        self._uk_full: dict[str, list[int]] = {}
        self._lat_full: dict[str, list[int]] = {}
        self._uk_keys: dict[str, list[int]] = {}
        self._lat_keys: dict[str, list[int]] = {}
        exact = exact_aliases or {}
        for i, r in enumerate(self._regions):
            for name in (r.name_uk, r.name_en, *self._aliases.get(r.id, ())):
                self._add_name(i, name, bare=True)
            for name in (r.label("uk"), r.label("en"), *exact.get(r.id, ())):
                self._add_name(i, name, bare=False)

    def _add_name(self, i: int, name: str, bare: bool) -> None:
        forms = [name]
        city = nm.city_of(name)
        if city:
            forms.append(city)
        for form in forms:
            if nm.has_cyrillic(form):
                self._add_key(self._uk_full, nm.name_key(form, keep_level=True), i)
                if bare:
                    self._add_key(self._uk_keys, nm.name_key(form), i)
            self._add_key(self._lat_full, nm.latin_key(form, keep_level=True), i)
            if bare:
                self._add_key(self._lat_keys, nm.latin_key(form), i)

    @staticmethod
    def _add_key(table: dict[str, list[int]], key: str, i: int) -> None:
        if key:
            bucket = table.setdefault(key, [])
            if i not in bucket:
                bucket.append(i)

    # -- the tree ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions)

    def __contains__(self, region_id: object) -> bool:
        return isinstance(region_id, str) and region_id in self._index

    def __repr__(self) -> str:
        return f"<Catalogue of {len(self)} regions>"

    @property
    def country(self) -> Region:
        """The root unit, Ukraine (id "UA")."""
        return self._regions[0]

    @cached_property
    def oblasts(self) -> tuple[Region, ...]:
        """The 27 oblast-level units (24 oblasts, AR Crimea, Kyiv, Sevastopol)."""
        return self.children(self.country.id)

    def get(self, region_id: str) -> Region:
        """The unit with this id of ours; UnknownRegion if none."""
        try:
            return self._regions[self._index[region_id]]
        except (KeyError, TypeError):
            raise UnknownRegion(f"no region with id {region_id!r}") from None

    def index_of(self, region_id: str) -> int:
        """Position of a unit in tree order (the numbers `at_many` returns)."""
        return self._index[self.get(region_id).id]

    def by_index(self, index: int) -> Region:
        """The unit at a tree-order position, e.g. one returned by `at_many`."""
        if index < 0:
            raise UnknownRegion(f"index {index} is not a region (-1 means no region)")
        return self._regions[index]

    def children(self, region_id: str) -> tuple[Region, ...]:
        """Direct children in tree order."""
        self.get(region_id)
        return tuple(self._regions[i] for i in self._children.get(region_id, ()))

    def ancestors(self, region_id: str) -> tuple[Region, ...]:
        """Parent first, up to and including the country."""
        out: list[Region] = []
        i = int(self._parent_idx[self.index_of(region_id)])
        while i >= 0:
            out.append(self._regions[i])
            i = int(self._parent_idx[i])
        return tuple(out)

    def descendants(self, region_id: str) -> tuple[Region, ...]:
        """Every unit below, in tree order."""
        out: list[Region] = []
        stack = list(reversed(self._children.get(self.get(region_id).id, [])))
        while stack:
            i = stack.pop()
            out.append(self._regions[i])
            stack.extend(reversed(self._children.get(self._regions[i].id, [])))
        return tuple(out)

    def is_within(self, region_id: str, ancestor_id: str) -> bool:
        """True when the unit is the ancestor itself or lies below it."""
        target = self.index_of(ancestor_id)
        i = self.index_of(region_id)
        while i >= 0:
            if i == target:
                return True
            i = int(self._parent_idx[i])
        return False

    def ancestor_at(self, region_id: str, level: Level) -> Region | None:
        """The unit's ancestor (or itself) at `level`; None if the unit is above that level."""
        region = self.get(region_id)
        if region.level == level:
            return region
        return next((a for a in self.ancestors(region_id) if a.level == level), None)

    # -- external ids -----------------------------------------------------------------------

    def by_ukrainealarm_id(self, ua_id: str | int) -> Region:
        """The unit of an api.ukrainealarm.com state, district or community id."""
        try:
            return self._regions[self._by_ua[str(ua_id).strip()]]
        except KeyError:
            raise UnknownRegion(f"no region with ukrainealarm id {ua_id!r}") from None

    def by_alerts_in_ua_uid(self, uid: int | str) -> Region:
        """The unit of an alerts.in.ua location uid."""
        try:
            return self._regions[self._by_aiu[int(uid)]]
        except (KeyError, ValueError):
            raise UnknownRegion(f"no region with alerts.in.ua uid {uid!r}") from None

    def by_katottg(self, code: str) -> Region:
        """The unit of a KATOTTG code (O/K/P/H). The six Sevastopol-area hromadas that COD-AB
        folds into its Sevastopol unit answer that unit."""
        try:
            return self._regions[self._by_katottg[code.strip().upper()]]
        except KeyError:
            raise UnknownRegion(f"no region with KATOTTG code {code!r}") from None

    def by_pcode(self, pcode: str) -> Region:
        """The unit of an OCHA COD-AB pcode ("UA63", "UA6312", "UA6312027")."""
        try:
            return self._regions[self._by_pcode[pcode.strip().upper()]]
        except KeyError:
            raise UnknownRegion(f"no region with COD-AB pcode {pcode!r}") from None

    def aliases(self, region_id: str) -> tuple[str, ...]:
        """Other names a unit is known by (older names, the sources' spellings)."""
        return self._aliases.get(self.get(region_id).id, ())

    # -- names ------------------------------------------------------------------------------

    def _within_index(self, within: str | Region | None) -> int | None:
        if within is None:
            return None
        if isinstance(within, Region):
            return self.index_of(within.id)
        if within in self._index:
            return self._index[within]
        return self._index[self.resolve(within).id]

    def _is_within_idx(self, i: int, target: int) -> bool:
        while i >= 0:
            if i == target:
                return True
            i = int(self._parent_idx[i])
        return False

    def _is_mirror(self, i: int) -> bool:
        """A pseudo-unit that is its parent's only child (Kyiv's and Sevastopol's raion and
        hromada, the Chornobyl zone's hromada): the same territory under the same name."""
        parent = self._regions[i].parent_id
        return self._regions[i].is_pseudo and len(self._children.get(parent, ())) == 1

    def find(
        self, name: str, level: Level | str | None = None, within: str | Region | None = None
    ) -> list[Region]:
        """Every unit a name can mean, in tree order; never a guess.

        Case, apostrophe style and the level words (область/oblast, район/raion,
        громада/hromada) do not matter; a level word in `name` narrows the search to that level
        when `level` is not given. `within` (an id, Region or name) limits it to one subtree.
        An id of ours, a KATOTTG code or a pcode also finds its unit.
        """
        lvl = Level(level) if level is not None else None
        code = name.strip()
        if code in self._index:
            hits = [self._index[code]]
        elif code.upper() in self._by_katottg:
            hits = [self._by_katottg[code.upper()]]
        elif code.upper() in self._by_pcode:
            hits = [self._by_pcode[code.upper()]]
        else:
            cyr = nm.has_cyrillic(name)
            full = self._uk_full if cyr else self._lat_full
            bare = self._uk_keys if cyr else self._lat_keys
            key = nm.name_key if cyr else nm.latin_key
            hits = list(full.get(key(name, keep_level=True), ()))
            if not hits:
                hits = list(bare.get(key(name), ()))
                hint = nm.level_hint(name)
                if hint is not None:
                    hits = [i for i in hits if self._regions[i].level == hint]
        target = self._within_index(within)
        if target is not None:
            hits = [i for i in hits if self._is_within_idx(i, target)]
        if lvl is not None:
            hits = [i for i in hits if self._regions[i].level == lvl]
        else:
            chosen = set(hits)
            hits = [i for i in hits if not (self._is_mirror(i) and self._parent_idx[i] in chosen)]
        return [self._regions[i] for i in sorted(hits)]

    def resolve(
        self, name: str, level: Level | str | None = None, within: str | Region | None = None
    ) -> Region:
        """Exactly one unit for a name, else AmbiguousRegion (with `.candidates`) or
        UnknownRegion (whose message and `.suggestions` give the closest matches)."""
        found = self.find(name, level, within)
        if len(found) == 1:
            return found[0]
        scope = self._describe_scope(level, within)
        if found:
            listing = "; ".join(self.describe(r) for r in found)
            raise AmbiguousRegion(f"{name!r}{scope} matches {len(found)} regions: {listing}", found)
        close = self.closest(name, level, within)
        hint = "; ".join(self.describe(r) for r in close) or "none"
        raise UnknownRegion(f"no region named {name!r}{scope}; closest: {hint}", close)

    def resolve_path(self, *names: str | None) -> Region:
        """The deepest unit of a chain of names, e.g. ("Poltavska oblast", "Lubenskyi raion",
        "Hrebinkivska terytorialna hromada"), read as a whole.

        Each name is looked up on its own and the one combination that nests is taken, so a
        chain in the wrong order (the official record has one row with oblast and raion swapped)
        still resolves, while a chain that fits several ways raises AmbiguousRegion.
        """
        given = [n for n in names if n and n.strip()]
        if not given:
            raise UnknownRegion("no names given")
        options = [self.find(n) for n in given]
        for n, opts in zip(given, options, strict=True):
            if not opts:
                self.resolve(n)  # raises UnknownRegion with the closest matches
        chains: list[list[Region]] = [[]]
        for opts in options:
            chains = [[*c, o] for c in chains for o in opts if all(self._nested(o, x) for x in c)]
        deepest = {max(c, key=lambda r: _DEPTH[r.level]).id: c for c in chains}
        if len(deepest) == 1:
            return self.get(next(iter(deepest)))
        if not deepest:
            raise UnknownRegion(f"the names {given!r} do not nest into one chain of regions")
        found = [self.get(i) for i in sorted(deepest, key=self.index_of)]
        listing = "; ".join(self.describe(r) for r in found)
        raise AmbiguousRegion(f"{given!r} fits {len(found)} regions: {listing}", found)

    def _nested(self, a: Region, b: Region) -> bool:
        return self.is_within(a.id, b.id) or self.is_within(b.id, a.id)

    def closest(
        self,
        name: str,
        level: Level | str | None = None,
        within: str | Region | None = None,
        limit: int = 5,
    ) -> list[Region]:
        """The units whose names are spelled most like `name` (for "did you mean")."""
        lvl = Level(level) if level is not None else None
        target = self._within_index(within)
        cyr = nm.has_cyrillic(name)
        table = self._uk_keys if cyr else self._lat_keys
        key = nm.name_key(name) if cyr else nm.latin_key(name)

        def ok(i: int) -> bool:
            return (lvl is None or self._regions[i].level == lvl) and (
                target is None or self._is_within_idx(i, target)
            )

        keys = [k for k, idxs in table.items() if any(ok(i) for i in idxs)]
        out: list[Region] = []
        for k in difflib.get_close_matches(key, keys, n=limit * 2, cutoff=0.5):
            for i in table[k]:
                if ok(i) and self._regions[i] not in out:
                    out.append(self._regions[i])
        return out[:limit]

    def describe(self, region: Region) -> str:
        """One line naming a unit with its parents, e.g. "Покровська громада (Нікопольський
        район, Дніпропетровська область) [UA12080090000010540]"."""
        parents = [a.label() for a in self.ancestors(region.id) if a.level is not Level.COUNTRY]
        where = f" ({', '.join(parents)})" if parents else ""
        qualifier = self._qualifiers.get(region.id)
        name = f"{region.label()} «{qualifier}»" if qualifier else region.label()
        return f"{name}{where} [{region.id}]"

    def qualifier(self, region_id: str) -> str | None:
        """For the few units sharing a name with a sibling (e.g. the two Покровська hromadas of
        Нікопольський район), the fuller name that tells them apart; else None."""
        return self._qualifiers.get(self.get(region_id).id)

    @staticmethod
    def _describe_scope(level: Level | str | None, within: str | Region | None) -> str:
        parts = []
        if level is not None:
            parts.append(f"level={Level(level)}")
        if within is not None:
            parts.append(f"within={within.id if isinstance(within, Region) else within}")
        return f" ({', '.join(parts)})" if parts else ""

    # -- geometry ---------------------------------------------------------------------------

    @cached_property
    def _geometry(self) -> tuple[np.ndarray, PointIndex, np.ndarray]:
        if self._geometry_path is None:
            raise RuntimeError("this catalogue was built without boundaries")
        arrays, _meta = read_arrays(self._geometry_path)
        geoms = decode_geometries(arrays)
        if len(geoms) != len(self._regions):
            raise RuntimeError("boundary data does not match the region list; rebuild it")
        hromadas = np.array(
            [i for i, r in enumerate(self._regions) if r.level is Level.HROMADA], dtype=np.int32
        )
        index = PointIndex(geoms[hromadas], arrays)
        return geoms, index, hromadas

    def load_geometry(self, prepare: bool = False) -> None:
        """Read boundaries and the point index now (they load on first use otherwise);
        `prepare=True` also prepares every hromada polygon for steady query timings."""
        _geoms, index, _h = self._geometry
        if prepare:
            index.prepare_all()

    def boundary(self, region_id: str) -> MultiPolygon:
        """The unit's boundary; raions, oblasts and the country are dissolved from their
        hromadas, so edges line up at every level."""
        return self._geometry[0][self.index_of(region_id)]

    @cached_property
    def _level_maps(self) -> dict[Level, np.ndarray]:
        n = len(self._regions)
        maps = {}
        for level in Level:
            arr = np.full(n + 1, -1, dtype=np.int32)  # slot n maps "no region" (-1) to -1
            for i, r in enumerate(self._regions):
                anc = self.ancestor_at(r.id, level)
                arr[i] = self._index[anc.id] if anc else -1
            maps[level] = arr
        return maps

    def at(self, lat: float, lon: float, level: Level | str = Level.HROMADA) -> Region | None:
        """The hromada (or its ancestor at `level`) holding the point; None outside Ukraine or
        in the sea, never the nearest region."""
        _geoms, index, hromadas = self._geometry
        h = index.lookup(float(lon), float(lat))
        if h < 0:
            return None
        region = self._regions[hromadas[h]]
        if level == Level.HROMADA:
            return region
        return self.ancestor_at(region.id, Level(level))

    def at_many(
        self, lats: Iterable[float], lons: Iterable[float], level: Level | str = Level.HROMADA
    ) -> np.ndarray:
        """Vectorised `at`: an int32 array of tree-order indexes (-1 = no region); map them with
        `by_index` or `ids_at_many`."""
        _geoms, index, hromadas = self._geometry
        h = index.lookup_many(
            np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
        )
        out = np.where(h >= 0, hromadas[np.maximum(h, 0)], -1).astype(np.int32)
        if Level(level) is not Level.HROMADA:
            out = self._level_maps[Level(level)][out]
        return out

    def ids_at_many(
        self, lats: Iterable[float], lons: Iterable[float], level: Level | str = Level.HROMADA
    ) -> list[str | None]:
        """Like `at_many`, but region ids (None = no region)."""
        ids = [r.id for r in self._regions]
        return [ids[i] if i >= 0 else None for i in self.at_many(lats, lons, level).tolist()]


DATA_DIR = Path(__file__).resolve().parent / "data"
REGIONS_FILE = "regions.json.gz"
GEOMETRY_FILE = "geometry.bin.gz"


def catalogue_from_data(data_dir: Path = DATA_DIR) -> Catalogue:
    """Read a catalogue from a package-data directory (the build script's output)."""
    raw = read_json_gz(data_dir / REGIONS_FILE)
    assert isinstance(raw, dict)
    fields = raw["fields"]
    regions = []
    for row in raw["regions"]:
        rec = dict(zip(fields, row, strict=True))
        rec["level"] = Level(rec["level"])
        regions.append(Region(**rec))
    return Catalogue(
        regions,
        raw["aliases"],
        exact_aliases=raw["exact_aliases"],
        qualifiers=raw["qualifiers"],
        katottg_folded=raw["katottg_folded"],
        geometry_path=data_dir / GEOMETRY_FILE,
    )


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (cached: every caller shares one)."""
    return catalogue_from_data(DATA_DIR)
