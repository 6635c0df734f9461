"""The catalogue's tree and its id/name API, from package data alone."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from itertools import pairwise

import pytest

from tryvoha.regions import AmbiguousRegion, Catalogue, Level, Region, UnknownRegion
from tryvoha.regions.catalogue import load_catalogue
from tryvoha.regions.names import latin_key, name_key


def test_load_is_cached_and_needs_no_shared_data() -> None:
    assert load_catalogue() is load_catalogue()
    code = (
        "import builtins, sys\n"
        "real = builtins.open\n"
        "def guard(f, *a, **k):\n"
        "    assert 'shared' not in str(f), f\n"
        "    return real(f, *a, **k)\n"
        "builtins.open = guard\n"
        "from tryvoha.regions import load_catalogue\n"
        "c = load_catalogue(); c.load_geometry(); print(len(c), c.at(50.45, 30.52).id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "UA8000000"


def test_counts_match_the_issue(catalogue: Catalogue) -> None:
    levels = Counter(r.level for r in catalogue)
    assert levels[Level.COUNTRY] == 1
    assert levels[Level.OBLAST] == 27 == len(catalogue.oblasts)
    assert levels[Level.RAION] == 136 + 3
    assert levels[Level.HROMADA] == 1769
    assert len(catalogue) == sum(levels.values())
    pseudo = {r.pcode for r in catalogue if r.is_pseudo and r.level is Level.RAION}
    assert pseudo == {"UA8000", "UA8500", "UA3200"}


def test_ids_and_fields(catalogue: Catalogue) -> None:
    assert catalogue.country.id == "UA" and catalogue.country.pcode == "UA"
    assert catalogue.country.parent_id is None and catalogue.country.oblast_id is None
    for r in catalogue:
        assert isinstance(r, Region)
        if r.katottg is not None:
            assert r.id == r.katottg and len(r.id) == 19
            # COD-AB pcodes are KATOTTG codes cut to 4/6/9 characters.
            assert r.katottg.startswith(r.pcode)
            assert len(r.pcode) == {Level.OBLAST: 4, Level.RAION: 6, Level.HROMADA: 9}[r.level]
        elif r.level is not Level.COUNTRY:
            assert r.id == r.pcode and r.is_pseudo
        assert r.name_uk and r.name_en and r.name_en.isascii()
        assert r.ukrainealarm_id is None or r.ukrainealarm_id.isdigit()
    with pytest.raises(AttributeError):
        catalogue.country.name_en = "x"  # type: ignore[misc]


def test_tree_order_and_nesting(catalogue: Catalogue) -> None:
    regions = list(catalogue)
    assert regions[0] == catalogue.country
    depth = {Level.COUNTRY: 0, Level.OBLAST: 1, Level.RAION: 2, Level.HROMADA: 3}
    seen = {regions[0].id}
    for prev, r in pairwise(regions):
        assert r.parent_id in seen  # parents come first
        assert depth[r.level] == depth[catalogue.get(r.parent_id).level] + 1
        assert depth[r.level] <= depth[prev.level] + 1  # depth-first
        seen.add(r.id)
    for r in regions[1:]:
        oblast = [a for a in (r, *catalogue.ancestors(r.id)) if a.level is Level.OBLAST]
        assert r.oblast_id == oblast[0].id
    # the subtrees in iteration order are contiguous and equal descendants()
    for o in catalogue.oblasts:
        i = catalogue.index_of(o.id)
        desc = catalogue.descendants(o.id)
        assert tuple(regions[i + 1 : i + 1 + len(desc)]) == desc


def test_navigation(catalogue: Catalogue) -> None:
    h = next(r for r in catalogue if r.level is Level.HROMADA and not r.is_pseudo)
    anc = catalogue.ancestors(h.id)
    assert [a.level for a in anc] == [Level.RAION, Level.OBLAST, Level.COUNTRY]
    assert anc[0].id == h.parent_id and anc[-1] == catalogue.country
    assert h in catalogue.children(h.parent_id)
    assert catalogue.is_within(h.id, h.id) and catalogue.is_within(h.id, "UA")
    assert catalogue.is_within(h.id, h.oblast_id)
    assert not catalogue.is_within(h.oblast_id, h.id)
    other = next(o for o in catalogue.oblasts if o.id != h.oblast_id)
    assert not catalogue.is_within(h.id, other.id)
    assert len(catalogue.descendants("UA")) == len(catalogue) - 1
    assert catalogue.children(h.id) == ()
    assert h.id in catalogue and "nope" not in catalogue and 5 not in catalogue
    assert catalogue.ancestor_at(h.id, Level.OBLAST).id == h.oblast_id
    assert catalogue.by_index(catalogue.index_of(h.id)) == h


def test_unknown_id_is_a_lookup_error_with_a_message(catalogue: Catalogue) -> None:
    with pytest.raises(LookupError, match="no region with id 'UA99'"):
        catalogue.get("UA99")
    for call in (
        lambda: catalogue.by_ukrainealarm_id("999999"),
        lambda: catalogue.by_alerts_in_ua_uid(999999),
        lambda: catalogue.by_katottg("UA00"),
        lambda: catalogue.children("x"),
        lambda: catalogue.by_index(-1),
    ):
        with pytest.raises(UnknownRegion):
            call()


def test_external_ids_are_unique_and_typed(catalogue: Catalogue) -> None:
    ua = [r.ukrainealarm_id for r in catalogue if r.ukrainealarm_id]
    aiu = [r.alerts_in_ua_uid for r in catalogue if r.alerts_in_ua_uid is not None]
    assert len(ua) == len(set(ua)) and len(aiu) == len(set(aiu))
    for r in catalogue:
        if r.ukrainealarm_id:
            assert catalogue.by_ukrainealarm_id(r.ukrainealarm_id) is r
            assert catalogue.by_ukrainealarm_id(int(r.ukrainealarm_id)) is r
        if r.alerts_in_ua_uid is not None:
            assert catalogue.by_alerts_in_ua_uid(r.alerts_in_ua_uid) is r
        if r.katottg:
            assert catalogue.by_katottg(r.katottg) is r
        assert catalogue.by_pcode(r.pcode) is r


def test_documented_id_decisions(catalogue: Catalogue) -> None:
    """The special cases of docs/regions.md, checked through names rather than raw codes."""
    kyiv = catalogue.by_ukrainealarm_id("31")
    assert kyiv.level is Level.OBLAST and kyiv.name_uk == "Київ"
    assert catalogue.by_alerts_in_ua_uid(31) is kyiv
    assert catalogue.by_alerts_in_ua_uid(29).name_uk == "Автономна Республіка Крим"
    sev = catalogue.by_alerts_in_ua_uid(30)
    assert sev.level is Level.OBLAST and sev.name_uk == "Севастополь"
    luhansk = catalogue.by_alerts_in_ua_uid(16)
    for uid, name in ((1801, "Луганський"), (1802, "Ровеньківський"), (1803, "Алчевський"),
                      (1804, "Довжанський")):  # fmt: skip
        r = catalogue.by_alerts_in_ua_uid(uid)
        assert (r.level, r.name_uk, r.oblast_id, r.ukrainealarm_id) == (
            Level.RAION, name, luhansk.id, None)  # fmt: skip
    for uid, oblast in ((1293, "Харківська"), (564, "Запорізька")):
        r = catalogue.by_alerts_in_ua_uid(uid)
        assert r.level is Level.HROMADA and r.name_uk == oblast
        assert catalogue.get(r.oblast_id).name_uk == oblast
        assert catalogue.by_ukrainealarm_id(uid) is r
    # the six Sevastopol-area KATOTTG hromadas COD-AB folds into Sevastopol
    folded = catalogue.by_katottg("UA01020010000048857")  # Андріївська
    assert folded.pcode == "UA8500000" and "Андріївська" in catalogue.aliases(folded.id)


def test_same_name_hromadas_in_one_raion(catalogue: Catalogue) -> None:
    """Each pair is told apart by its ukrainealarm name; a bare name returns both."""
    for raion, name, (a, b) in (
        ("Нікопольський", "Покровська", ("354", "353")),
        ("Одеський", "Чорноморська", ("969", "970")),
        ("Сумський", "Миколаївська", ("1181", "1180")),
    ):
        r = catalogue.resolve(raion, level=Level.RAION)
        both = catalogue.find(name, within=r.id)
        assert len(both) == 2 and all(x.level is Level.HROMADA for x in both)
        with pytest.raises(AmbiguousRegion) as err:
            catalogue.resolve(name, within=r.id)
        assert set(err.value.candidates) == set(both)
        ra, rb = catalogue.by_ukrainealarm_id(a), catalogue.by_ukrainealarm_id(b)
        assert {ra, rb} == set(both)
        assert catalogue.qualifier(ra.id) != catalogue.qualifier(rb.id)
        assert catalogue.resolve(catalogue.qualifier(ra.id), within=r.id) is ra
    assert catalogue.resolve("Миколаївська сільська громада", within="Сумський район").id == (
        catalogue.by_ukrainealarm_id("1180").id
    )


def test_name_lookup_forgives_spelling_variants(catalogue: Catalogue) -> None:
    oblast = catalogue.by_ukrainealarm_id("22")  # Харківська область
    for spelling in ("Харківська область", "харківська обл.", "ХАРКІВСЬКА  ОБЛАСТЬ",
                     "Kharkivska oblast", "kharkivska Oblast", "Kharkiv Oblast"):  # fmt: skip
        assert catalogue.resolve(spelling) is oblast, spelling
    assert catalogue.resolve("Харківська", level="oblast") is oblast
    assert catalogue.resolve(oblast.id) is oblast
    kp = catalogue.resolve("Кам'янець-Подільський район")
    for spelling in (
        "Кам’янець-Подільський район",
        "Камʼянець-Подільський р-н",
        "Kamianets-Podilskyi raion",
    ):
        assert catalogue.resolve(spelling) is kp
    hromada = catalogue.by_ukrainealarm_id("1293")
    for spelling in (
        "м. Харків та Харківська територіальна громада",
        "Харків",
        "m. Kharkiv ta Kharkivska terytorialna hromada",
        "Kharkivska hromada",
    ):
        assert catalogue.resolve(spelling) is hromada, spelling


def test_kyiv_city_is_one_place_not_three(catalogue: Catalogue) -> None:
    kyiv = catalogue.by_ukrainealarm_id("31")
    for spelling in ("Київ", "м. Київ", "Kyiv", "Kyiv City"):
        assert catalogue.resolve(spelling) is kyiv
    raion = catalogue.resolve("Київ", level=Level.RAION)
    hromada = catalogue.resolve("Kyiv", level="hromada")
    assert hromada.parent_id == raion.id and raion.parent_id == kyiv.id
    assert catalogue.resolve("Kyiv Oblast").name_uk == "Київська"


def test_renamed_units_answer_to_both_names(catalogue: Catalogue) -> None:
    r = catalogue.by_alerts_in_ua_uid(60)
    assert r.name_uk == "Звягельський"
    assert catalogue.resolve("Новоград-Волинський район") is r
    assert catalogue.resolve("Novohrad-Volynskyi raion") is r
    assert catalogue.resolve("Zviahelskyi raion") is r


def test_ambiguous_names_list_every_candidate_with_parents(catalogue: Catalogue) -> None:
    expected = [r for r in catalogue if r.level is Level.HROMADA and r.name_uk == "Покровська"]
    assert len(expected) > 2
    assert catalogue.find("Покровська громада") == expected
    assert catalogue.find("Pokrovska hromada") == expected
    with pytest.raises(AmbiguousRegion) as err:
        catalogue.resolve("Pokrovska", level=Level.HROMADA)
    assert list(err.value.candidates) == expected
    for r in expected:
        assert catalogue.get(r.parent_id).label() in str(err.value)
    with pytest.raises(AmbiguousRegion):
        catalogue.resolve("Харківська")  # the oblast and the city hromada


def test_unknown_names_give_closest_matches(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownRegion) as err:
        catalogue.resolve("Kharkivsca oblast")
    assert err.value.suggestions[0] is catalogue.by_ukrainealarm_id("22")
    assert "closest" in str(err.value) and "Харківська область" in str(err.value)
    with pytest.raises(UnknownRegion) as err:
        catalogue.resolve("Запорізька", level="raion")
    assert all(s.level is Level.RAION for s in err.value.suggestions)
    assert "Запорізький район" in str(err.value)
    with pytest.raises(LookupError):
        catalogue.resolve("Atlantis")


def test_within_limits_the_search(catalogue: Catalogue) -> None:
    donetsk = catalogue.resolve("Донецька область")
    found = catalogue.find("Покровська", within=donetsk.id)
    assert found and all(catalogue.is_within(r.id, donetsk.id) for r in found)
    assert catalogue.find("Покровська", within="Донецька область") == found
    assert catalogue.find("Покровська", within=donetsk) == found


def test_resolve_path_reads_a_chain_even_when_swapped(catalogue: Catalogue) -> None:
    a = catalogue.resolve_path("Poltavska oblast", "Lubenskyi raion", "Hrebinkivska hromada")
    b = catalogue.resolve_path("Lubenskyi raion", "Poltavska oblast", "Hrebinkivska hromada")
    assert a is b and a.level is Level.HROMADA
    assert catalogue.get(a.oblast_id).name_en == "Poltavska"
    with pytest.raises(AmbiguousRegion):
        catalogue.resolve_path("Hrebinkivska hromada")  # one in Kyivska, one in Poltavska
    with pytest.raises(UnknownRegion):
        catalogue.resolve_path("Lvivska oblast", "Lubenskyi raion")


@pytest.mark.parametrize("region_id", ["UA", "UA80000000000093317", "UA3200"])
def test_every_unit_resolves_by_its_own_names(catalogue: Catalogue, region_id: str) -> None:
    r = catalogue.get(region_id)
    assert r in catalogue.find(r.name_uk) and r in catalogue.find(r.name_en)


def test_every_unit_is_found_by_name_in_its_parent(catalogue: Catalogue) -> None:
    for r in catalogue:
        if r.level is Level.COUNTRY:
            continue
        for name in (r.name_uk, r.name_en, r.label("uk"), r.label("en")):
            found = catalogue.find(name, level=r.level, within=r.parent_id)
            assert r in found, (r, name)
            # only the documented same-name pairs (and Crimea's three) share a name in a parent
            assert len(found) == 1 or all(x.name_uk == r.name_uk for x in found)


def test_keys_ignore_case_apostrophes_and_level_words() -> None:
    assert name_key("Кам’янець-Подільський  РАЙОН") == name_key("кам'янець подільський")
    assert name_key("Харківська обл.") == name_key("Харківська область") == "харківська"
    assert name_key("Миколаївська сільська громада") != name_key("Миколаївська селищна")
    assert latin_key("Київська область") == latin_key("Kyivska oblast") == "kyivska"
