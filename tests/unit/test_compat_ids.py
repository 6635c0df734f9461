"""compat/ids.py: how alerts.in.ua (integer uids) and ukrainealarm (string ids) name regions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.compat.ids import (
    CITY_UIDS,
    CRIMEA_UKRAINEALARM_ID,
    OBLAST_ORDER,
    UA_REGION_TYPES,
    crosswalk,
    title_uk,
)
from tryvoha.regions import Catalogue, Level, load_catalogue

CATALOGUE = load_catalogue()
CW = crosswalk(CATALOGUE)
SURFACES = {"alerts.in.ua": CW.uid_of, "ukrainealarm": CW.ua_id_of}


def test_the_crosswalk_is_built_once_per_catalogue(catalogue: Catalogue) -> None:
    assert crosswalk(catalogue) is crosswalk(catalogue)


def test_ids_and_regions_are_one_to_one() -> None:
    assert {CW.by_uid[uid].id: uid for uid in CW.by_uid} == CW.uid_of
    assert {CW.by_ua_id[ua].id: ua for ua in CW.by_ua_id} == CW.ua_id_of
    assert len(set(CW.uid_of.values())) == len(CW.uid_of)
    assert len(set(CW.ua_id_of.values())) == len(CW.ua_id_of)


def test_the_two_surfaces_use_the_same_number_where_both_have_one() -> None:
    both = CW.uid_of.keys() & CW.ua_id_of.keys()
    assert len(both) > 1500
    differ = {rid for rid in both if str(CW.uid_of[rid]) != CW.ua_id_of[rid]}
    crimea = CW.by_uid[29].id
    assert differ == {crimea}
    assert CW.ua_id_of[crimea] == CRIMEA_UKRAINEALARM_ID


def test_a_hromada_without_a_uid_takes_its_community_id() -> None:
    borrowed = [
        r
        for r in CATALOGUE
        if r.level is Level.HROMADA and r.alerts_in_ua_uid is None and r.ukrainealarm_id
    ]
    assert len(borrowed) > 1000
    for region in borrowed:
        assert CW.uid_of[region.id] == int(region.ukrainealarm_id)
    for uid in CITY_UIDS - {30, 31}:  # Zaporizhzhia and Kharkiv city hromadas
        assert CW.by_uid[uid].level is Level.HROMADA


def test_the_oblast_string_order() -> None:
    regions = CW.oblast_regions()
    assert len(regions) == len(set(OBLAST_ORDER)) == 27
    assert {r.id for r in regions} == {r.id for r in CATALOGUE.oblasts}
    assert [CW.uid_of[r.id] for r in regions] == list(OBLAST_ORDER)
    assert CW.max_uid == max(CW.by_uid) and CW.max_uid >= max(OBLAST_ORDER)


def test_sevastopol_is_on_alerts_in_ua_only() -> None:
    sevastopol = CW.by_uid[30]
    assert sevastopol.level is Level.OBLAST and sevastopol.id not in CW.ua_id_of


def test_titles_as_both_services_spell_them() -> None:
    hromada = next(r for r in CATALOGUE if r.level is Level.HROMADA and not r.is_pseudo)
    assert hromada.label("uk").endswith(" громада")
    assert title_uk(hromada) == hromada.label("uk").removesuffix(" громада") + (
        " територіальна громада"
    )
    oblast = CATALOGUE.oblasts[5]
    assert title_uk(oblast) == oblast.label("uk")
    assert UA_REGION_TYPES[oblast.level] == "State"


# Where an alert shows ---------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_a_region_with_an_id_shows_as_itself(surface: str) -> None:
    ids = SURFACES[surface]
    for region_id in list(ids)[::50]:
        assert CW.targets(region_id, ids) == [region_id]


@pytest.mark.parametrize(("surface", "count"), [("alerts.in.ua", 27), ("ukrainealarm", 26)])
def test_a_country_wide_alert_shows_on_each_oblast(surface: str, count: int) -> None:
    shown = CW.targets("UA", SURFACES[surface])
    assert len(shown) == count
    assert all(CATALOGUE.get(r).level is Level.OBLAST for r in shown)


below = st.sampled_from([r.id for r in CATALOGUE if r.level is Level.HROMADA])


@settings(max_examples=200)
@given(hromada=below, depth=st.integers(0, 3), surface=st.sampled_from(list(SURFACES)))
def test_seen_from_inside_an_alert_shows_on_the_one_target_on_the_way(
    hromada: str, depth: int, surface: str
) -> None:
    """Seen from `within` (a region at or below the alert's), the alert shows on the one of its
    targets that contains `within`."""
    ids = SURFACES[surface]
    path = [hromada, *(r.id for r in CATALOGUE.ancestors(hromada))]
    region = path[min(depth, len(path) - 1)]
    seen = CW.targets(region, ids, within=hromada)
    everywhere = CW.targets(region, ids)
    assert set(seen) <= set(everywhere) and len(seen) <= 1
    if seen:
        assert CATALOGUE.is_within(hromada, seen[0])
    else:
        assert not any(CATALOGUE.is_within(hromada, t) for t in everywhere)


def test_seen_from_outside_an_alert_shows_nowhere() -> None:
    one, other = CATALOGUE.oblasts[3], CATALOGUE.oblasts[4]
    hromada = CATALOGUE.descendants(other.id)[-1]
    assert CW.targets(one.id, CW.uid_of, within=hromada.id) == []


NO_ID_ANYWHERE_BELOW = {
    "the Kyiv city pseudo-raion": "UA8000",
    "the Chornobyl zone": "UA3200",
    "a Crimean raion": CATALOGUE.children(CW.by_uid[29].id)[0].id,
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("region_id", NO_ID_ANYWHERE_BELOW.values(), ids=NO_ID_ANYWHERE_BELOW)
def test_an_alert_on_a_region_without_an_id_shows_in_part_of_the_region_above(
    surface: str, region_id: str
) -> None:
    ids = SURFACES[surface]
    assert region_id not in ids
    (target,) = CW.targets(region_id, ids)
    nearest = next(r.id for r in CATALOGUE.ancestors(region_id) if r.id in ids)
    assert target == nearest and not CW.covers(region_id, target)
    assert CW.whole_targets(region_id, ids) == []
    hromada = (CATALOGUE.descendants(region_id) or (CATALOGUE.get(region_id),))[-1]
    assert CW.targets(region_id, ids, within=hromada.id) == [target]


@pytest.mark.parametrize("surface", SURFACES)
def test_every_region_shows_somewhere_but_sevastopol_on_ukrainealarm(surface: str) -> None:
    """Every alert shows on a surface, wholly or in part, unless the surface has no region
    containing it at all (Sevastopol has no ukrainealarm id)."""
    ids = SURFACES[surface]
    sevastopol = CW.by_uid[30].id
    nowhere = {r.id for r in CATALOGUE if not CW.targets(r.id, ids)}
    if surface == "alerts.in.ua":
        assert nowhere == set()
    else:
        assert nowhere == {sevastopol, *(r.id for r in CATALOGUE.descendants(sevastopol))}
    for region in CATALOGUE:
        shown = CW.targets(region.id, ids)
        whole = CW.whole_targets(region.id, ids)
        assert whole == [t for t in shown if CW.covers(region.id, t)]
        if whole != shown:  # shown in part of the nearest region above with an id
            assert whole == [] and len(shown) == 1
            assert not any(r.id in ids for r in CATALOGUE.descendants(region.id))
            assert region.id not in ids and CATALOGUE.is_within(region.id, shown[0])


def test_partial_targets_are_the_known_places_without_ids() -> None:
    partial = {
        name: [r for r in CATALOGUE if CW.targets(r.id, ids) and not CW.whole_targets(r.id, ids)]
        for name, ids in SURFACES.items()
    }
    assert len(partial["alerts.in.ua"]) == 324
    assert len(partial["ukrainealarm"]) == 326  # 329 less Sevastopol's three units
    crimea = CW.by_uid[29].id
    in_crimea = [r for r in partial["alerts.in.ua"] if CATALOGUE.is_within(r.id, crimea)]
    assert len(in_crimea) == 307 and all(CW.targets(r.id, CW.uid_of) == [crimea] for r in in_crimea)
