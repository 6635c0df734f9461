"""The catalogue against the raw sources in ../shared: id coverage, names, the real alert record.

Expected values come from the source files themselves, read here independently of the build.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from tryvoha.regions import Catalogue, Level
from tryvoha.regions.names import transliterate

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "regions").is_dir() or not (DATA / "alerts").is_dir(),
    reason=f"reference data not found at {DATA} (../shared next to the repository)",
)


def _json(name: str) -> dict:
    return json.loads((DATA / "regions" / name).read_text(encoding="utf-8"))


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_ukrainealarm_id_maps_to_exactly_one_unit(catalogue: Catalogue) -> None:
    states = _json("ukrainealarm_states.json")["states"]
    seen: dict[str, str] = {}
    n = {Level.OBLAST: 0, Level.RAION: 0, Level.HROMADA: 0}
    for s in states:
        oblast = catalogue.by_ukrainealarm_id(s["stateId"])
        assert oblast.level is Level.OBLAST
        seen[str(s["stateId"])] = oblast.id
        n[Level.OBLAST] += 1
        for d in s["districts"]:
            raion = catalogue.by_ukrainealarm_id(str(d["districtId"]))
            assert raion.level is Level.RAION and raion.parent_id == oblast.id
            seen[str(d["districtId"])] = raion.id
            n[Level.RAION] += 1
            for c in d["communities"]:
                hromada = catalogue.by_ukrainealarm_id(c["communityId"])
                assert hromada.level is Level.HROMADA and hromada.parent_id == raion.id
                # the source's own name finds the unit within its raion
                assert hromada in catalogue.find(c["communityName"], within=raion.id)
                seen[str(c["communityId"])] = hromada.id
                n[Level.HROMADA] += 1
    assert n == {Level.OBLAST: 25, Level.RAION: 122, Level.HROMADA: 1458}
    assert len(set(seen.values())) == len(seen) == 1605  # one unit each, no unit twice
    assert {r.ukrainealarm_id for r in catalogue if r.ukrainealarm_id} == set(seen)


def test_every_alerts_in_ua_uid_maps_to_exactly_one_unit(catalogue: Catalogue) -> None:
    locations = _json("alerts_in_ua_locations.json")["locations"]
    level = {1: Level.OBLAST, 2: Level.RAION, 3: Level.HROMADA}
    units = set()
    for loc in locations:
        r = catalogue.by_alerts_in_ua_uid(loc["uid"])
        assert r.level is level[loc["level"]], loc
        assert r in catalogue.find(loc["title"], level=r.level), loc
        assert catalogue.get(r.oblast_id).alerts_in_ua_uid == loc["oblast_uid"], loc
        units.add(r.id)
    assert len(units) == len(locations) == 155
    assert {r.alerts_in_ua_uid for r in catalogue if r.alerts_in_ua_uid is not None} == {
        loc["uid"] for loc in locations
    }


def test_crosswalk_agrees_where_it_has_an_answer(catalogue: Catalogue) -> None:
    rows = _csv(DATA / "regions" / "crosswalk_ukrainealarm.csv")
    answered = [r for r in rows if r["codab_pcode"]]
    assert len(answered) == 1605 - 7
    for row in answered:
        assert catalogue.by_ukrainealarm_id(row["ukrainealarm_id"]).pcode == row["codab_pcode"]


def test_boundary_units_are_all_present(catalogue: Catalogue) -> None:
    for n, level in ((1, Level.OBLAST), (2, Level.RAION), (3, Level.HROMADA)):
        features = _json(f"ukr_adm{n}_{['oblasts', 'raions', 'hromadas'][n - 1]}.geojson")
        pcodes = {f["properties"][f"ADM{n}_PCODE"] for f in features["features"]}
        assert pcodes == {r.pcode for r in catalogue if r.level is level}
        for f in features["features"]:
            p = f["properties"]
            r = catalogue.by_pcode(p[f"ADM{n}_PCODE"])
            parent = p.get(f"ADM{n - 1}_PCODE", "UA")
            assert catalogue.get(r.parent_id).pcode == parent


def test_katottg_codes_come_from_the_codifier(catalogue: Catalogue) -> None:
    rows = _csv(DATA / "regions" / "katottg_units.csv")
    for row in rows:
        r = catalogue.by_katottg(row["katottg"])
        if row["in_codab_20230201"] == "True":
            assert r.id == row["katottg"] and r.name_uk == row["name"]
        else:
            assert r.pcode == "UA8500000"  # folded into Sevastopol by COD-AB


def test_transliteration_agrees_with_codab_english_names(catalogue: Catalogue) -> None:
    """KMU-2010 reproduces COD-AB's English names except a handful of COD-AB slips."""
    total = differ = 0
    for n, layer in ((1, "oblasts"), (2, "raions"), (3, "hromadas")):
        for f in _json(f"ukr_adm{n}_{layer}.geojson")["features"]:
            p = f["properties"]
            total += 1
            differ += transliterate(p[f"ADM{n}_UA"]) != p[f"ADM{n}_EN"]
    assert total == 1935 and differ <= 10


def _record_rows() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    alerts = DATA / "alerts"
    return _csv(alerts / "official_data_en.csv"), _csv(alerts / "official_data_uk_2023-12.csv")


def test_every_official_record_row_resolves(catalogue: Catalogue) -> None:
    """100 % of official_data_en.csv rows: each named place is exactly one unit of the row's
    level, and the row's oblast/raion/hromada columns name that unit and its ancestors."""
    en, _uk = _record_rows()
    assert len(en) > 30_000
    resolved: dict[tuple[str, str, str], str] = {}
    cols = ("oblast", "raion", "hromada")
    for row in en:
        key = tuple(row[c] for c in cols)
        if key not in resolved:
            r = catalogue.resolve_path(*key)
            assert r.level is Level(row["level"]), row
            chain = {r, *catalogue.ancestors(r.id)}
            for name in key:
                if name:
                    hits = [x for x in catalogue.find(name) if x in chain]
                    assert len(hits) == 1, (row, name)
            resolved[key] = r.id
    assert len(resolved) > 200


def test_record_names_in_english_and_ukrainian_agree(catalogue: Catalogue) -> None:
    """The _uk file pairs rows with the English one by (started_at, finished_at): both spellings
    of every row resolve to the same unit, and where the name is current its English form is
    the catalogue's name_en."""
    en, uk = _record_rows()
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in uk:
        groups[(row["started_at"], row["finished_at"])].append(row)
    cols = ("oblast", "raion", "hromada")
    checked: set[tuple] = set()
    for row in en:
        group = groups.get((row["started_at"], row["finished_at"]))
        if not group:
            continue
        partner = group.pop(0)
        pair = (tuple(row[c] for c in cols), tuple(partner[c] for c in cols))
        if pair in checked:
            continue
        checked.add(pair)
        a, b = catalogue.resolve_path(*pair[0]), catalogue.resolve_path(*pair[1])
        assert a is b, pair
        if transliterate(b.name_uk) in pair[0][cols.index(str(b.level))]:
            assert b.name_en == transliterate(b.name_uk)
    assert all(not g for g in groups.values())
    assert len(checked) >= 200
