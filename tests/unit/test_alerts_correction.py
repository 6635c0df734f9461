"""alerts/correction.py: the bilingual correction the hub writes for a retracted alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tryvoha.alerts.correction import DRILL_WORDS, THREAT_NAMES, area_name, correction_text
from tryvoha.alerts.model import Alert, AlertStatus, Threat
from tryvoha.regions import load_catalogue

CATALOGUE = load_catalogue()
BUCHA = "UA32080070000050759"  # Бучанська громада, Бучанський район, Київська область


def alert(region_id: str, threat: Threat, status: AlertStatus, started_at: datetime) -> Alert:
    return Alert(1, region_id, threat, status, started_at, "token:dispatch")


def test_ukrainian_first_then_english_naming_the_alert_and_its_start_in_kyiv_time() -> None:
    # 23:05 UTC on 1 July is 02:05 on 2 July in Kyiv (summer time, UTC+3): the date moves too.
    text = correction_text(
        CATALOGUE,
        alert(BUCHA, Threat.AIR_RAID, AlertStatus.ACTUAL, datetime(2024, 7, 1, 23, 5, tzinfo=UTC)),
    )
    assert text.split("\n") == [
        "Скасовано: Повітряна тривога — Бучанська громада, Бучанський район, Київська область, "
        "оголошено о 02:05 02.07.2024 (за київським часом). Цю тривогу оголошено помилково.",
        "Withdrawn: Air raid alert — Buchanska hromada, Buchanskyi raion, Kyivska oblast, "
        "declared at 02:05 on 02.07.2024 (Kyiv time). This alert was issued in error.",
    ]


def test_winter_time_and_a_drill_are_said_as_such() -> None:
    kyiv = CATALOGUE.resolve("Kyiv City", level="oblast").id
    started = datetime(2024, 1, 15, 21, 59, tzinfo=UTC)  # 23:59 in Kyiv (UTC+2)
    uk, en = correction_text(
        CATALOGUE, alert(kyiv, Threat.NUCLEAR, AlertStatus.EXERCISE, started)
    ).split("\n")
    assert uk.startswith(
        "Скасовано: Радіаційна загроза (навчання) — м. Київ, оголошено о 23:59 15.01.2024"
    )
    assert en.startswith(
        "Withdrawn: Nuclear threat (exercise) — Kyiv City, declared at 23:59 on 15.01.2024"
    )


@pytest.mark.parametrize("threat", list(Threat))
@pytest.mark.parametrize("status", list(AlertStatus))
def test_every_threat_and_status_has_its_words(threat: Threat, status: AlertStatus) -> None:
    started = datetime(2024, 3, 1, 12, tzinfo=UTC)
    uk, en = correction_text(CATALOGUE, alert(BUCHA, threat, status, started)).split("\n")
    assert THREAT_NAMES[threat]["uk"] in uk and THREAT_NAMES[threat]["en"] in en
    drill = DRILL_WORDS.get(status)
    if drill is None:
        assert all(
            f"({w[lang]})" not in line
            for w in DRILL_WORDS.values()
            for lang, line in (("uk", uk), ("en", en))
        )
    else:
        assert f"{THREAT_NAMES[threat]['uk']} ({drill['uk']})" in uk
        assert f"{THREAT_NAMES[threat]['en']} ({drill['en']})" in en


def test_the_country_is_named_alone_and_a_qualified_name_keeps_its_qualifier() -> None:
    assert area_name(CATALOGUE, CATALOGUE.country.id, "uk") == "Україна"
    qualified = next(r for r in CATALOGUE if CATALOGUE.qualifier(r.id))
    name = area_name(CATALOGUE, qualified.id, "uk")
    assert f"«{CATALOGUE.qualifier(qualified.id)}»" in name
    assert name.endswith("область") and "Україна" not in name
