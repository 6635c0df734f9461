"""channels/streams/spec.py: what a subscriber asked for, and which events concern it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.alerts.ranges import MAX_ID
from tryvoha.channels.streams.spec import Matcher, SpecError, StreamSpec, parse_spec
from tryvoha.regions import Catalogue, Level, load_catalogue

CATALOGUE = load_catalogue()  # cached: the same object the `catalogue` fixture gives
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def an_event(
    region_id: str,
    threat: Threat = Threat.AIR_RAID,
    status: AlertStatus = AlertStatus.ACTUAL,
) -> Event:
    return Event(1, EventKind.DECLARED, 1, region_id, threat, status, AT, AT, "t")


def a_hromada(catalogue: Catalogue, oblast_index: int = 5):
    """An oblast, one of its raions and one of that raion's hromadas."""
    oblast = catalogue.oblasts[oblast_index]
    raion = catalogue.children(oblast.id)[0]
    return oblast, raion, catalogue.children(raion.id)[0]


# parse_spec -----------------------------------------------------------------------------------


def test_nothing_asked_is_everything_actual_from_now(catalogue: Catalogue) -> None:
    spec = parse_spec("", catalogue)
    assert spec == StreamSpec(None, None, False, None)
    assert spec.statuses == {AlertStatus.ACTUAL}
    for query in ("regions=*&threats=*", "regions=&threats=", "drills=false"):
        assert parse_spec(query, catalogue) == spec, query


def test_regions_and_threats_are_comma_lists(catalogue: Catalogue) -> None:
    a, b = catalogue.oblasts[0].id, catalogue.oblasts[1].id
    spec = parse_spec(f"regions= {a} ,,{b},&threats=air_raid,nuclear", catalogue)
    assert spec.regions == {a, b}
    assert spec.threats == {Threat.AIR_RAID, Threat.NUCLEAR}
    assert parse_spec({"regions": f"{b},{a}"}, catalogue).key == (
        tuple(sorted((a, b))),
        None,
        False,
    )


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_drills_true(catalogue: Catalogue, value: str) -> None:
    spec = parse_spec({"drills": value}, catalogue)
    assert spec.drills and spec.statuses == set(AlertStatus)


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_drills_false(catalogue: Catalogue, value: str) -> None:
    assert not parse_spec({"drills": value}, catalogue).drills


def test_the_last_repeat_of_a_parameter_counts(catalogue: Catalogue) -> None:
    spec = parse_spec("since=3&since=9&drills=true&drills=false", catalogue)
    assert (spec.since, spec.drills) == (9, False)


@pytest.mark.parametrize(
    ("query", "last_event_id", "since"),
    [
        ("since=0", None, 0),
        ("since= 42 ", None, 42),
        ("", "17", 17),
        ("since=5", "17", 5),  # the explicit choice wins over the header
        ("since=", "17", 17),  # an empty since is absent
        ("", "", None),
        (f"since={MAX_ID}", None, MAX_ID),
        ("since=007", None, 7),
    ],
)
def test_resume_point(
    catalogue: Catalogue, query: str, last_event_id: str | None, since: int | None
) -> None:
    assert parse_spec(query, catalogue, last_event_id).since == since


@pytest.mark.parametrize(
    ("query", "last_event_id", "code", "words"),
    [
        ("regions=UA,nowhere,UA99", None, "unknown_region", "'nowhere', 'UA99'"),
        ("threats=air_raid,meteor", None, "unknown_threat", "unknown threat 'meteor'; known: "),
        ("drills=maybe", None, "invalid_drills", "not 'maybe'"),
        ("since=-1", None, "invalid_since", "0 or a positive event id, not -1"),
        ("since=abc", None, "invalid_since", "since must be an event id (an integer), not 'abc'"),
        ("since=1.5", None, "invalid_since", "not '1.5'"),
        ("", "abc", "invalid_since", "Last-Event-ID must be an event id"),
        ("", "-3", "invalid_since", "Last-Event-ID must be 0 or a positive event id"),
        ("regions=,", None, "empty_regions", "regions names no region"),
        ("regions= , ,", None, "empty_regions", "regions names no region"),
        ("threats=,", None, "empty_threats", "threats names no threat"),
        ("since=5_000", None, "invalid_since", "not '5_000'"),
        ("since=%D9%A3", None, "invalid_since", "not '٣'"),  # an Arabic-Indic 3
        ("since=%EF%BC%95", None, "invalid_since", "not '５'"),  # a full-width 5
        ("since=%2B5", None, "invalid_since", "not '+5'"),
        (f"since={MAX_ID + 1}", None, "invalid_since", f"from 0 to {MAX_ID}"),
        ("since=" + "9" * 5000, None, "invalid_since", f"from 0 to {MAX_ID}"),
        ("", "1_0", "invalid_since", "Last-Event-ID must be an event id"),
    ],
)
def test_bad_requests_name_the_problem(
    catalogue: Catalogue, query: str, last_event_id: str | None, code: str, words: str
) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(query, catalogue, last_event_id)
    assert refused.value.code == code
    assert words in refused.value.message and str(refused.value) == refused.value.message


def test_unknown_threat_lists_every_known_one(catalogue: Catalogue) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec("threats=meteor", catalogue)
    assert all(t.value in refused.value.message for t in Threat)


region_ids = st.sampled_from([r.id for r in CATALOGUE])
specs = st.builds(
    StreamSpec,
    regions=st.none() | st.frozensets(region_ids, min_size=1, max_size=4),
    threats=st.none() | st.frozensets(st.sampled_from(Threat), min_size=1),
    drills=st.booleans(),
    since=st.none() | st.integers(0, MAX_ID),
)


@given(specs)
def test_to_query_parses_back_to_the_same_spec(spec: StreamSpec) -> None:
    """A follower process rebuilds the spec of a subscriber passed to it from `to_query`."""
    assert parse_spec(spec.to_query(), CATALOGUE) == spec


@given(specs, specs)
def test_equal_keys_mean_equal_filters(one: StreamSpec, other: StreamSpec) -> None:
    same_filter = (one.regions, one.threats, one.drills) == (
        other.regions,
        other.threats,
        other.drills,
    )
    assert (one.key == other.key) == same_filter


# Matcher --------------------------------------------------------------------------------------


def test_a_region_hears_itself_what_is_below_and_what_is_above(catalogue: Catalogue) -> None:
    """An oblast-wide alert makes each of its hromadas active, so a hromada's siren must hear it;
    an oblast's dashboard hears its hromadas."""
    oblast, raion, hromada = a_hromada(catalogue)
    sibling_raion = catalogue.children(oblast.id)[1]
    other_oblast = catalogue.oblasts[6]
    matcher = Matcher(catalogue)
    for wanted, heard, not_heard in [
        (hromada, [hromada, raion, oblast, catalogue.country], [sibling_raion, other_oblast]),
        (raion, [raion, hromada, oblast, catalogue.country], [sibling_raion, other_oblast]),
        (oblast, [oblast, raion, hromada, sibling_raion, catalogue.country], [other_oblast]),
    ]:
        spec = StreamSpec(regions=frozenset({wanted.id}))
        for region in heard:
            assert matcher.matches(spec, an_event(region.id)), (wanted.id, region.id)
        for region in not_heard:
            assert not matcher.matches(spec, an_event(region.id)), (wanted.id, region.id)


def test_several_regions_hear_the_union(catalogue: Catalogue) -> None:
    one, two, three = catalogue.oblasts[2:5]
    spec = StreamSpec(regions=frozenset({one.id, two.id}))
    matcher = Matcher(catalogue)
    heard = [r for r in catalogue if r.level is Level.RAION and matcher.region_matches(spec, r.id)]
    assert heard and {r.parent_id for r in heard} == {one.id, two.id}
    assert not matcher.region_matches(spec, three.id)


@given(region=region_ids, event_region=region_ids)
@settings(max_examples=300)
def test_region_matching_is_nesting_either_way(region: str, event_region: str) -> None:
    spec = StreamSpec(regions=frozenset({region}))
    nested = event_region in {region, *(r.id for r in CATALOGUE.ancestors(region))} or (
        event_region in {r.id for r in CATALOGUE.descendants(region)}
    )
    assert Matcher(CATALOGUE).region_matches(spec, event_region) == nested


def test_statuses_and_threats_filter(catalogue: Catalogue) -> None:
    region = catalogue.oblasts[0].id
    matcher = Matcher(catalogue)
    actual_only = StreamSpec()
    with_drills = StreamSpec(drills=True)
    shelling = StreamSpec(threats=frozenset({Threat.ARTILLERY_SHELLING}))
    for status in (AlertStatus.EXERCISE, AlertStatus.TEST):
        assert not matcher.matches(actual_only, an_event(region, status=status))
        assert matcher.matches(with_drills, an_event(region, status=status))
        assert not matcher.alert_matches(actual_only, region, Threat.AIR_RAID, status)
        assert matcher.alert_matches(with_drills, region, Threat.AIR_RAID, status)
    assert not matcher.matches(shelling, an_event(region))
    assert matcher.matches(shelling, an_event(region, Threat.ARTILLERY_SHELLING))
    assert not matcher.alert_matches(shelling, region, Threat.AIR_RAID, AlertStatus.ACTUAL)
    assert matcher.alert_matches(shelling, region, Threat.ARTILLERY_SHELLING, AlertStatus.ACTUAL)


def test_the_answer_cache_is_bounded_and_stays_right(catalogue: Catalogue) -> None:
    """Distinct region sets are subscriber input: the cache must not grow with them."""
    matcher = Matcher(catalogue)
    ids = [r.id for r in catalogue]
    largest = 0
    for k in range(110):  # 110 region sets × every region: over 200,000 distinct answers
        spec = StreamSpec(regions=frozenset({ids[k]}))
        for rid in ids:
            matcher.region_matches(spec, rid)
        largest = max(largest, len(matcher._regions))
    assert 110 * len(ids) > 200_000 >= largest - 1
    oblast, _, hromada = a_hromada(catalogue)
    spec = StreamSpec(regions=frozenset({hromada.id}))
    assert matcher.region_matches(spec, oblast.id) and matcher.region_matches(spec, oblast.id)
    assert not matcher.region_matches(spec, catalogue.oblasts[0].id)
