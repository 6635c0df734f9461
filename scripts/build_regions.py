#!/usr/bin/env python3
"""Build the region catalogue's package data from the reference sources.

Rerun when anything in `<source>/regions/` or `<source>/alerts/` changes:

    .venv/bin/python scripts/build_regions.py                 # source: ../shared/data
    .venv/bin/python scripts/build_regions.py --source /path/to/data --out /tmp/regions-data

It reads the COD-AB boundaries, the KATOTTG codifier, the ukrainealarm and alerts.in.ua region
lists, the crosswalk, and the official alert record (English + Ukrainian), checks every join it
makes (the build fails rather than guess), and writes `src/tryvoha/regions/data/`:
`regions.json.gz` (units, names, external ids) and `geometry.bin.gz` (boundaries and the point
index). Output is byte-for-byte deterministic. See docs/regions.md for the decisions.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tryvoha.regions.catalogue import GEOMETRY_FILE, REGIONS_FILE, Catalogue  # noqa: E402
from tryvoha.regions.model import Level, Region  # noqa: E402
from tryvoha.regions.names import bare_name, name_key, transliterate  # noqa: E402
from tryvoha.regions.spatial import SCALE, build_grid, encode_geometries  # noqa: E402
from tryvoha.regions.storage import write_arrays, write_json_gz  # noqa: E402

DEFAULT_SOURCE = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "src" / "tryvoha" / "regions" / "data"
GRID_BOUNDS = (22.0, 44.3, 40.3, 52.4)  # lon0, lat0, lon1, lat1 around Ukraine
GRID_CELL = 0.01  # degrees; ~1 km, leaves ~13 % of cells on a boundary

# COD-AB cuts names at 26 characters.
NAME_UK_FIXES = {
    "UA3200": "Чорнобильська зона відчуження",
    "UA3200000": "Чорнобильська зона відчуження",
}
# Conventional English names where a transliteration would not be what readers know.
NAME_EN_FIXED = {
    "UA": "Ukraine",
    "UA01": "Autonomous Republic of Crimea",
    "UA3200": "Chornobyl Exclusion Zone",
    "UA3200000": "Chornobyl Exclusion Zone",
}
EXTRA_ALIASES = {
    "UA": ["Україна", "Ukraina"],
    "UA01": ["Крим", "АР Крим", "АРК", "Crimea", "Republic of Crimea"],
    "UA80": ["м. Київ", "Kyiv City", "Kiev"],
    "UA85": ["м. Севастополь", "Sevastopol City"],
    "UA3200": ["Зона відчуження", "ЧЗВ", "Chernobyl Exclusion Zone"],
}
# English usage names an oblast after its centre ("Kharkiv Oblast"); indexed only together with
# the word "oblast", so "Kyiv" alone still means the city. Wikipedia's article titles.
CONVENTIONAL_OBLAST_EN = {
    "UA05": "Vinnytsia", "UA07": "Volyn", "UA12": "Dnipropetrovsk", "UA14": "Donetsk",
    "UA18": "Zhytomyr", "UA21": "Zakarpattia", "UA23": "Zaporizhzhia", "UA26": "Ivano-Frankivsk",
    "UA32": "Kyiv", "UA35": "Kirovohrad", "UA44": "Luhansk", "UA46": "Lviv", "UA48": "Mykolaiv",
    "UA51": "Odesa", "UA53": "Poltava", "UA56": "Rivne", "UA59": "Sumy", "UA61": "Ternopil",
    "UA63": "Kharkiv", "UA65": "Kherson", "UA68": "Khmelnytskyi", "UA71": "Cherkasy",
    "UA73": "Chernivtsi", "UA74": "Chernihiv",
}  # fmt: skip
# ukrainealarm communities whose hromada shares its name with another one in the same raion
# (SOURCES.md §5). Names cannot decide, so the seat settlement does:
# - 353/354 Нікопольський: the city of Pokrov (47.65 N, 34.12 E) lies in UA1208009, so
#   "м. Покров та Покровська" is UA1208009 and the other "Покровська" is UA1208011.
# - 969/970 Одеський: the city of Chornomorsk (46.30 N, 30.66 E) lies in UA5110037; the
#   selyshche Chornomorske (north-east of Odesa) is the seat of UA5110039.
# - 1180/1181 Сумський: the codifier's settlement UA59080130010087968 Миколаївка (category X,
#   selyshche) sits under UA5908013, so the селищна громада is UA5908013 and the сільська one
#   UA5908015.
# The id order of ukrainealarm follows KATOTTG order for every other community, but not for
# these ties (353/354 would be reversed), so it is not used as evidence.
SAME_NAME_COMMUNITIES = {
    "353": "UA1208011",
    "354": "UA1208009",
    "969": "UA5110037",
    "970": "UA5110039",
    "1180": "UA5908015",
    "1181": "UA5908013",
}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SystemExit(f"build_regions: {message}")


class Builder:
    """Joins the sources into unit records; every join is checked."""

    def __init__(self, source: Path) -> None:
        self.src = source
        reg = source / "regions"
        self.adm = {n: _features(reg / f) for n, f in (
            (1, "ukr_adm1_oblasts.geojson"), (2, "ukr_adm2_raions.geojson"),
            (3, "ukr_adm3_hromadas.geojson"))}  # fmt: skip
        self.katottg = _read_csv(reg / "katottg_units.csv")
        self.crosswalk = _read_csv(reg / "crosswalk_ukrainealarm.csv")
        self.states = json.loads((reg / "ukrainealarm_states.json").read_text(encoding="utf-8"))
        self.aiu = json.loads((reg / "alerts_in_ua_locations.json").read_text(encoding="utf-8"))
        self.units: dict[str, dict] = {}  # pcode → record
        self.aliases: dict[str, set[str]] = defaultdict(set)
        self.exact_aliases: dict[str, set[str]] = defaultdict(set)
        self.geoms: dict[str, object] = {}
        self.report: list[str] = []

    # -- units and names ----------------------------------------------------------------------

    def units_from_boundaries(self) -> None:
        by_pcode = {r["codab_pcode"]: r for r in self.katottg if r["in_codab_20230201"] == "True"}
        self.units["UA"] = dict(pcode="UA", level=Level.COUNTRY, parent=None, name_uk="Україна")
        for level, lv in ((1, Level.OBLAST), (2, Level.RAION), (3, Level.HROMADA)):
            for f in sorted(self.adm[level], key=lambda f: f["properties"][f"ADM{level}_PCODE"]):
                p = f["properties"]
                pcode = p[f"ADM{level}_PCODE"]
                parent = p[f"ADM{level - 1}_PCODE"] if level > 1 else "UA"
                _check(parent in self.units, f"{pcode}: parent {parent} missing")
                k = by_pcode.get(pcode)
                name_codab = NAME_UK_FIXES.get(pcode, p[f"ADM{level}_UA"])
                self.units[pcode] = dict(
                    pcode=pcode,
                    level=lv,
                    parent=parent,
                    katottg=k["katottg"] if k else None,
                    name_uk=k["name"] if k else name_codab,
                )
                if name_codab != self.units[pcode]["name_uk"]:
                    self.aliases[pcode].add(name_codab)  # the pre-2024 name COD-AB carries
                self.aliases[pcode].add(p[f"ADM{level}_EN"])
                if level == 3:
                    self.geoms[pcode] = shape(f["geometry"])
        _check(sum(u["level"] is Level.OBLAST for u in self.units.values()) == 27, "27 oblasts")
        _check(sum(u["level"] is Level.HROMADA for u in self.units.values()) == 1769, "hromadas")
        # KATOTTG hromadas with no COD-AB polygon: COD-AB folds them into Sevastopol.
        self.folded = {
            r["katottg"]: r
            for r in self.katottg
            if r["category"] == "H" and r["in_codab_20230201"] != "True"
        }
        _check(len(self.folded) == 6, "expected the 6 Sevastopol-area hromadas outside COD-AB")
        for r in self.folded.values():
            self.aliases["UA8500000"].add(r["name"])
        for pcode, names in EXTRA_ALIASES.items():
            self.aliases[pcode].update(names)
        for pcode, city in CONVENTIONAL_OBLAST_EN.items():
            self.exact_aliases[pcode].add(f"{city} Oblast")

    # -- external ids -------------------------------------------------------------------------

    def ukrainealarm(self) -> None:
        rows = {r["ukrainealarm_id"]: r for r in self.crosswalk}
        seen: dict[str, str] = {}

        def assign(ua_id: str, pcode: str, name: str, level: Level) -> None:
            _check(pcode in self.units, f"ukrainealarm {ua_id}: unknown pcode {pcode}")
            unit = self.units[pcode]
            _check(unit["level"] is level, f"ukrainealarm {ua_id}: level mismatch")
            _check("ukrainealarm_id" not in unit, f"{pcode} has two ukrainealarm ids")
            unit["ukrainealarm_id"] = ua_id
            unit["ukrainealarm_name"] = name
            self.aliases[pcode].add(name)
            seen[ua_id] = pcode

        for state in self.states["states"]:
            sid = str(state["stateId"])
            assign(sid, rows[sid]["codab_pcode"], state["stateName"], Level.OBLAST)
            for district in state["districts"]:
                did = str(district["districtId"])
                rpc = rows[did]["codab_pcode"]
                assign(did, rpc, district["districtName"], Level.RAION)
                _check(self.units[rpc]["parent"] == seen[sid], f"district {did} not in {sid}")
                todo = []
                for c in district["communities"]:
                    cid = str(c["communityId"])
                    pc = rows[cid]["codab_pcode"] or SAME_NAME_COMMUNITIES.get(cid)
                    if pc:
                        _check(self.units[pc]["parent"] == rpc, f"community {cid} not in {did}")
                        assign(cid, pc, c["communityName"], Level.HROMADA)
                    else:
                        todo.append(c)
                # A single leftover on each side is a renamed hromada (Новоград-Волинська →
                # Звягельська); more than one would need evidence, so the build stops.
                free = [
                    p
                    for p, u in self.units.items()
                    if u["parent"] == rpc and "ukrainealarm_id" not in u
                ]
                if todo:
                    _check(len(todo) == 1 and len(free) >= 1, f"district {did}: {todo} unmatched")
                    c = todo[0]
                    _check(len(free) == 1, f"district {did}: cannot place {c['communityName']}")
                    assign(str(c["communityId"]), free[0], c["communityName"], Level.HROMADA)
                    self.report.append(
                        f"ukrainealarm {c['communityId']} {c['communityName']!r} → {free[0]} "
                        f"{self.units[free[0]]['name_uk']} (only unmatched hromada in its raion)"
                    )
        n = Counter(self.units[p]["level"] for p in seen.values())
        self.report.append(
            "ukrainealarm ids mapped: "
            + ", ".join(f"{lv}={n[lv]}" for lv in (Level.OBLAST, Level.RAION, Level.HROMADA))
            + f" (total {len(seen)})"
        )

    def alerts_in_ua(self, names: Catalogue) -> None:
        ua_index = {
            u["ukrainealarm_id"]: p for p, u in self.units.items() if "ukrainealarm_id" in u
        }
        levels = {1: Level.OBLAST, 2: Level.RAION, 3: Level.HROMADA}
        by_aiu_oblast: dict[int, str] = {}
        for loc in sorted(self.aiu["locations"], key=lambda x: x["level"]):
            uid, title, level = int(loc["uid"]), loc["title"], levels[loc["level"]]
            pcode = ua_index.get(str(uid))
            if pcode is not None:
                how = "same id as ukrainealarm"
            else:
                within = None
                if level is not Level.OBLAST:
                    within = names.by_pcode(by_aiu_oblast[int(loc["oblast_uid"])]).id
                pcode = names.resolve(title, level=level, within=within).pcode
                how = "title"
            unit = self.units[pcode]
            _check(unit["level"] is level, f"alerts.in.ua {uid}: level mismatch")
            _check(
                any(r.pcode == pcode for r in names.find(title, level=level)),
                f"alerts.in.ua {uid} {title!r} does not name {pcode}",
            )
            _check("alerts_in_ua_uid" not in unit, f"{pcode} has two alerts.in.ua uids")
            unit["alerts_in_ua_uid"] = uid
            self.aliases[pcode].add(title)
            if level is Level.OBLAST:
                by_aiu_oblast[uid] = pcode
            if how == "title":
                self.report.append(f"alerts.in.ua {uid} {title!r} → {pcode} (by {how})")
        self.report.append(f"alerts.in.ua uids mapped: {len(self.aiu['locations'])}")

    # -- the official record's English names -------------------------------------------------

    def official_names(self, names: Catalogue) -> None:
        alerts = self.src / "alerts"
        en = _read_csv(alerts / "official_data_en.csv")
        uk = _read_csv(alerts / "official_data_uk_2023-12.csv")
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in uk:
            groups[(row["started_at"], row["finished_at"])].append(row)
        cols = ("oblast", "raion", "hromada")
        pairs: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        paired = 0
        for row in en:
            group = groups.get((row["started_at"], row["finished_at"]))
            if not group:
                continue
            # Rows sharing both times pair in file order (both files keep the same order).
            partner = group.pop(0)
            paired += 1
            pairs.add((tuple(row[c] for c in cols), tuple(partner[c] for c in cols)))
        _check(sum(len(g) for g in groups.values()) == 0, "unpaired Ukrainian rows")
        english: dict[str, set[str]] = defaultdict(set)
        en_names: set[str] = set()
        for en_row, uk_row in sorted(pairs):
            deepest = names.resolve_path(*uk_row)
            chain = [deepest, *names.ancestors(deepest.id)]
            for en_name, uk_name in zip(en_row, uk_row, strict=True):
                _check(bool(en_name) == bool(uk_name), f"{en_row} pairs with {uk_row}")
                if not en_name:
                    continue
                hits = [r for r in names.find(uk_name) if r in chain]
                _check(len(hits) == 1, f"{uk_name!r} in {uk_row}: {hits}")
                unit = hits[0]
                en_names.add(en_name)
                self.aliases[unit.pcode].update((en_name, uk_name))
                if name_key(bare_name(uk_name)) == name_key(unit.name_uk):
                    english[unit.pcode].add(bare_name(en_name))
        mismatch = 0
        for pcode, found in sorted(english.items()):
            _check(len(found) == 1, f"{pcode} has several English names: {found}")
            name = next(iter(found))
            self.units[pcode]["name_en_record"] = name
            if name != transliterate(self.units[pcode]["name_uk"]):
                mismatch += 1
                self.report.append(
                    f"record spells {pcode} {name!r}, KMU-2010 gives "
                    f"{transliterate(self.units[pcode]['name_uk'])!r}"
                )
        self.report.append(
            f"official record: {paired} rows paired, {len(en_names)} English names, "
            f"{len(english)} units take their English name from it, {mismatch} differ from KMU-2010"
        )

    # -- output -------------------------------------------------------------------------------

    def regions(self) -> list[Region]:
        """Unit records in tree order (pcode order is KATOTTG order within every parent)."""
        kids: dict[str | None, list[str]] = defaultdict(list)
        for pcode, u in self.units.items():
            kids[u["parent"]].append(pcode)
        order: list[str] = []
        stack = ["UA"]
        while stack:
            p = stack.pop()
            order.append(p)
            stack.extend(sorted(kids[p], reverse=True))
        ids = {p: (self.units[p].get("katottg") or p) for p in order}
        out = []
        for p in order:
            u = self.units[p]
            oblast = (
                p
                if u["level"] is Level.OBLAST
                else p[:4]
                if u["level"] is not Level.COUNTRY
                else None
            )
            name_en = NAME_EN_FIXED.get(p) or u.get("name_en_record") or transliterate(u["name_uk"])
            out.append(
                Region(
                    id=ids[p],
                    level=u["level"],
                    parent_id=ids[u["parent"]] if u["parent"] else None,
                    name_uk=u["name_uk"],
                    name_en=name_en,
                    katottg=u.get("katottg"),
                    pcode=p,
                    ukrainealarm_id=u.get("ukrainealarm_id"),
                    alerts_in_ua_uid=u.get("alerts_in_ua_uid"),
                    oblast_id=ids[oblast] if oblast else None,
                )
            )
        return out

    def qualifiers(self) -> dict[str, str]:
        """pcode → the fuller name that tells apart units sharing a name within one parent."""
        groups: dict[tuple, list[str]] = defaultdict(list)
        for p, u in self.units.items():
            groups[(u["parent"], u["name_uk"])].append(p)
        out = {}
        for same in groups.values():
            if len(same) > 1:
                # Crimea's three pairs (Ленінська, Калінінська, Октябрська) have no fuller
                # name in any source; only their ids tell them apart.
                for p in same:
                    if "ukrainealarm_name" in self.units[p]:
                        out[p] = self.units[p]["ukrainealarm_name"]
        return out

    def catalogue(self) -> Catalogue:
        regions = self.regions()
        ids = {r.pcode: r.id for r in regions}
        return Catalogue(
            regions,
            {ids[p]: sorted(a) for p, a in self.aliases.items()},
            exact_aliases={ids[p]: sorted(a) for p, a in self.exact_aliases.items()},
            qualifiers={ids[p]: q for p, q in self.qualifiers().items()},
        )

    def geometry(self, regions: list[Region]) -> dict[str, np.ndarray]:
        """Hromada polygons as given; every higher unit dissolved from its hromadas."""
        hromadas = [r for r in regions if r.level is Level.HROMADA]
        members: dict[str, list[object]] = defaultdict(list)
        for r in hromadas:
            g = self.geoms[r.pcode]
            members[r.pcode[:6]].append(g)
            members[r.pcode[:4]].append(g)
            members["UA"].append(g)
        geoms = []
        for r in regions:
            if r.level is Level.HROMADA:
                g = self.geoms[r.pcode]
            else:
                g = shapely.union_all(members[r.pcode], grid_size=1 / SCALE)
            _check(g.is_valid and not g.is_empty, f"{r.pcode}: invalid boundary")
            geoms.append(g)
        arrays = encode_geometries(np.array(geoms, dtype=object))
        hromada_geoms = np.array([self.geoms[r.pcode] for r in hromadas], dtype=object)
        arrays.update(build_grid(hromada_geoms, GRID_BOUNDS, GRID_CELL))
        grid = arrays["grid"]
        self.report.append(
            f"grid {grid.shape[1]}x{grid.shape[0]} cells of {GRID_CELL} deg: "
            f"{(grid >= 0).mean():.1%} inside one hromada, {(grid <= -2).mean():.1%} boundary, "
            f"{len(arrays['grid_offsets']) - 1} distinct boundary lists"
        )
        return arrays


def build(source: Path, out: Path) -> list[str]:
    """Run every step and write the package data; returns the report lines."""
    b = Builder(source)
    b.units_from_boundaries()
    b.ukrainealarm()
    b.alerts_in_ua(b.catalogue())
    b.official_names(b.catalogue())
    cat = b.catalogue()
    regions = list(cat)
    arrays = b.geometry(regions)
    out.mkdir(parents=True, exist_ok=True)
    fields = list(Region.__dataclass_fields__)
    ids = {r.pcode: r.id for r in regions}
    write_json_gz(
        out / REGIONS_FILE,
        {
            "format": 1,
            "sources": {
                "boundaries": "OCHA COD-AB Ukraine ukr_admbnda_sspe_20230201 (CC BY-IGO 3.0)",
                "katottg": "KATOTTG codifier, order No. 290 of 2020-11-26 as of 2024-01-19",
                "ukrainealarm": "api.ukrainealarm.com region list via Vadimkin dataset (MIT)",
                "alerts_in_ua": "alerts-in-ua 0.4.0 location uid table (MIT)",
                "english_names": "official alert record (Vadimkin dataset, MIT) + KMU-2010",
            },
            "fields": fields,
            "regions": [
                [str(v) if isinstance(v, Level) else v for v in (getattr(r, f) for f in fields)]
                for r in regions
            ],
            "aliases": {ids[p]: sorted(a) for p, a in sorted(b.aliases.items())},
            "exact_aliases": {ids[p]: sorted(a) for p, a in sorted(b.exact_aliases.items())},
            "katottg_folded": {k: ids["UA8500000"] for k in sorted(b.folded)},
            "qualifiers": {ids[p]: q for p, q in sorted(b.qualifiers().items())},
        },
    )
    write_arrays(out / GEOMETRY_FILE, arrays, {"grid_bounds": GRID_BOUNDS, "grid_cell": GRID_CELL})
    counts = Counter(r.level for r in regions)
    b.report.insert(0, "units: " + ", ".join(f"{lv}={counts[lv]}" for lv in Level))
    return b.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="shared data dir")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="package data dir")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    report = build(args.source.resolve(), args.out.resolve())
    for line in report if not args.quiet else report[:1]:
        print(line)
    for f in (REGIONS_FILE, GEOMETRY_FILE):
        print(f"wrote {args.out / f} ({(args.out / f).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
