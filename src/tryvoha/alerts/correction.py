"""The correction a retraction carries: one bilingual text, made by the hub from the alert itself.

A dispatcher retracting a false alert at 3 a.m. must not have to write the public correction under
pressure (Hawaii, 2018, took 38 minutes for lack of one). The hub writes it from what the alert
says: the threat, the area with its parents, and the start in Kyiv time. Ukrainian first, as
residents read it; the sentences avoid declining the names (the catalogue holds them in the
nominative), so they read correctly for every threat and every region.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tryvoha.alerts.model import Alert, AlertStatus, Threat
from tryvoha.regions import Catalogue, Level

KYIV = ZoneInfo("Europe/Kyiv")

THREAT_NAMES: dict[Threat, dict[str, str]] = {
    Threat.AIR_RAID: {"uk": "Повітряна тривога", "en": "Air raid alert"},
    Threat.ARTILLERY_SHELLING: {"uk": "Загроза артобстрілу", "en": "Artillery shelling threat"},
    Threat.URBAN_FIGHTS: {"uk": "Загроза вуличних боїв", "en": "Urban fighting threat"},
    Threat.CHEMICAL: {"uk": "Хімічна загроза", "en": "Chemical threat"},
    Threat.NUCLEAR: {"uk": "Радіаційна загроза", "en": "Nuclear threat"},
}
"""The names the CAP messages use too, so a correction names the alert as it was announced."""

DRILL_WORDS = {
    AlertStatus.EXERCISE: {"uk": "навчання", "en": "exercise"},
    AlertStatus.TEST: {"uk": "перевірка", "en": "test"},
}

TEMPLATE = {
    "uk": "Скасовано: {threat} — {area}, оголошено о {time} {date} (за київським часом). "
    "Цю тривогу оголошено помилково.",
    "en": "Withdrawn: {threat} — {area}, declared at {time} on {date} (Kyiv time). "
    "This alert was issued in error.",
}


def area_name(catalogue: Catalogue, region_id: str, lang: str) -> str:
    """ "Бучанська громада, Бучанський район, Київська область": the unit and its parents."""
    region = catalogue.get(region_id)
    name = region.label(lang)
    qualifier = catalogue.qualifier(region_id)
    if qualifier and lang == "uk":
        name = f"{name} «{qualifier}»"
    parents = [a.label(lang) for a in catalogue.ancestors(region_id) if a.level != Level.COUNTRY]
    return ", ".join([name, *parents])


def correction_text(catalogue: Catalogue, alert: Alert) -> str:
    """The Ukrainian sentence, a newline, the English one."""
    started = alert.started_at.astimezone(KYIV)
    lines = []
    for lang in ("uk", "en"):
        threat = THREAT_NAMES[alert.threat][lang]
        drill = DRILL_WORDS.get(alert.status)
        if drill is not None:
            threat = f"{threat} ({drill[lang]})"
        lines.append(
            TEMPLATE[lang].format(
                threat=threat,
                area=area_name(catalogue, alert.region_id, lang),
                time=started.strftime("%H:%M"),
                date=started.strftime("%d.%m.%Y"),
            )
        )
    return "\n".join(lines)
