"""One CAP 1.2 message per event of the log (docs/cap.md has the full mapping).

- `identifier` `urn:tryvoha:<hub id>:event:<log id>`: unique per hub, stable, never reused;
- `sent` the time the hub recorded the event, Kyiv time with its real offset, whole seconds;
- `msgType`: a declaration is an `Alert`, an update an `Update`, an end an `Update` with
  `responseType` `AllClear` and `urgency` `Past`, a retraction a `Cancel`;
- `references`: every earlier message of the same alert (`sender,identifier,sent`), so each message
  supersedes all before it; `incidents` names the alert;
- one `<info>` per language with what to do for the threat, and an `<area>` with the region's
  names, a simplified polygon and its geocodes (KATOTTG, ukrainealarm, alerts.in.ua).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from tryvoha.alerts.model import Event
from tryvoha.channels.cap.geometry import PolygonCache
from tryvoha.channels.cap.texts import (
    ALL_CLEAR,
    CANCELLED,
    CAP_LANGUAGES,
    DETAILS,
    DRILL_NOTE,
    DRILL_PREFIX,
    HEADLINE,
    LANG_KEYS,
    THREATS,
    WORDS,
)
from tryvoha.regions import Catalogue, Level

NS = "urn:oasis:names:tc:emergency:cap:1.2"
KYIV = ZoneInfo("Europe/Kyiv")
MSG_TYPES = {"declared": "Alert", "updated": "Update", "ended": "Update", "retracted": "Cancel"}
"""By event kind; `retracted` (an alert withdrawn as issued in error) is a Cancel."""
STATUSES = {"actual": "Actual", "exercise": "Exercise", "test": "Test"}
OVER = frozenset({"ended", "retracted"})
MAX_REFERENCES = 100
"""An alert updated more often than this references only its latest messages (and its first)."""
HEADLINE_MAX = 160


@dataclass(frozen=True, slots=True)
class Earlier:
    """An earlier event of the same alert: what `<references>` and `<onset>` need."""

    log_id: int
    kind: str
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class CapIdentity:
    """Who sends: `sender` is globally unique (by default the hub id, which should then be a
    domain name); `public_url` is where the hub's map and CAP files are reached."""

    hub_id: str
    sender: str
    public_url: str


def identifier(hub_id: str, log_id: int) -> str:
    return f"urn:tryvoha:{hub_id}:event:{log_id}"


def parse_identifier(hub_id: str, text: str) -> int | None:
    """The log id named by `text`: a bare log id or this hub's identifier; None otherwise."""
    prefix = f"urn:tryvoha:{hub_id}:event:"
    number = text.removeprefix(prefix)
    if not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def cap_time(value: datetime) -> str:
    """`2023-03-09T03:05:12+02:00`: Kyiv time with its offset, whole seconds (CAP forbids `Z`)."""
    return value.astimezone(KYIV).isoformat(timespec="seconds")


def _local(value: datetime) -> str:
    return value.astimezone(KYIV).strftime("%H:%M %d.%m.%Y")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        node.text = text
    return node


def _pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    node = _sub(parent, tag)
    _sub(node, "valueName", name)
    _sub(node, "value", value)


def area_names(catalogue: Catalogue, region_id: str, lang: str) -> str:
    """ "Бучанська громада, Бучанський район, Київська область": the unit and its parents."""
    region = catalogue.get(region_id)
    name = region.label(lang)
    qualifier = catalogue.qualifier(region_id)
    if qualifier and lang == "uk":
        name = f"{name} «{qualifier}»"
    parents = [a.label(lang) for a in catalogue.ancestors(region_id) if a.level != Level.COUNTRY]
    return ", ".join([name, *parents])


class CapRenderer:
    """Builds the (unsigned) `<alert>` element of an event."""

    def __init__(self, identity: CapIdentity, catalogue: Catalogue) -> None:
        self.identity = identity
        self.catalogue = catalogue
        self.polygons = PolygonCache(catalogue)

    def reference(self, earlier: Earlier) -> str:
        ident = identifier(self.identity.hub_id, earlier.log_id)
        return f"{self.identity.sender},{ident},{cap_time(earlier.recorded_at)}"

    def build(self, event: Event, earlier: Sequence[Earlier]) -> etree._Element:
        """`earlier`: the alert's events before `event`, in log order."""
        kind = event.kind.value
        status = event.status.value
        root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
        _sub(root, "identifier", identifier(self.identity.hub_id, event.id))
        _sub(root, "sender", self.identity.sender)
        _sub(root, "sent", cap_time(event.recorded_at))
        _sub(root, "status", STATUSES[status])
        _sub(root, "msgType", MSG_TYPES[kind])
        _sub(root, "source", event.originator)
        _sub(root, "scope", "Public")
        if status in DRILL_NOTE:
            _sub(root, "note", DRILL_NOTE[status])
        if earlier:
            chosen = list(earlier)
            if len(chosen) > MAX_REFERENCES:
                chosen = [chosen[0], *chosen[-(MAX_REFERENCES - 1) :]]
            _sub(root, "references", " ".join(self.reference(e) for e in chosen))
        _sub(root, "incidents", f"urn:tryvoha:{self.identity.hub_id}:alert:{event.alert_id}")
        started = earlier[0].occurred_at if earlier else event.occurred_at
        for language in CAP_LANGUAGES:
            self._info(root, language, event, started)
        return root

    def _info(self, root: etree._Element, language: str, event: Event, started: datetime) -> None:
        lang = LANG_KEYS[language]
        kind = event.kind.value
        threat = THREATS[event.threat]
        area = area_names(self.catalogue, event.region_id, lang)
        info = _sub(root, "info")
        _sub(info, "language", language)
        for category in threat.categories:
            _sub(info, "category", category)
        _sub(info, "event", threat.event[lang])
        if kind == "ended":
            response, urgency, severity, certainty = "AllClear", "Past", "Minor", "Observed"
        elif kind == "retracted":
            response, urgency, severity, certainty = "None", "Past", "Minor", "Unlikely"
        else:
            response, urgency, severity, certainty = (
                threat.response,
                "Immediate",
                threat.severity,
                "Likely",
            )
        _sub(info, "responseType", response)
        _sub(info, "urgency", urgency)
        _sub(info, "severity", severity)
        _sub(info, "certainty", certainty)
        _pair(info, "eventCode", "tryvoha:threat", event.threat.value)
        _sub(info, "effective", cap_time(event.occurred_at))
        _sub(info, "onset", cap_time(started))
        _sub(info, "senderName", WORDS["sender_name"][lang].format(hub=self.identity.hub_id))
        prefix = DRILL_PREFIX.get(event.status.value, {}).get(lang, "")
        headline = prefix + HEADLINE[kind][lang].format(event=threat.event[lang], area=area)
        if len(headline) > HEADLINE_MAX:
            headline = headline[: HEADLINE_MAX - 1] + "…"
        _sub(info, "headline", headline)
        _sub(info, "description", self._description(event, lang, area, started))
        if kind == "ended":
            instruction = ALL_CLEAR[lang]
        elif kind == "retracted":
            instruction = CANCELLED[lang]
        else:
            instruction = threat.instruction[lang]
        _sub(info, "instruction", instruction)
        _sub(info, "web", self.identity.public_url.rstrip("/") + "/")
        _pair(info, "parameter", "tryvoha:log_id", str(event.id))
        _pair(info, "parameter", "tryvoha:alert_id", str(event.alert_id))
        if event.details:
            _pair(info, "parameter", "tryvoha:details", ",".join(d.value for d in event.details))
        self._area(info, event.region_id, area)

    def _description(self, event: Event, lang: str, area: str, started: datetime) -> str:
        threat = THREATS[event.threat]
        lines = [f"{threat.event[lang]}: {area}."]
        if event.details:
            named = ", ".join(DETAILS[d][lang] for d in event.details)
            lines.append(f"{WORDS['threat_kinds'][lang]}: {named}.")
        lines.append(f"{WORDS['since'][lang]} {_local(started)} ({WORDS['kyiv'][lang]}).")
        if event.kind.value in OVER:
            lines.append(
                f"{WORDS['ended_at'][lang]} {_local(event.occurred_at)} ({WORDS['kyiv'][lang]})."
            )
        if event.notes:
            lines.append(f"{WORDS['notes'][lang]}: {event.notes}")
        return " ".join(lines)

    def _area(self, info: etree._Element, region_id: str, names: str) -> None:
        region = self.catalogue.get(region_id)
        area = _sub(info, "area")
        _sub(area, "areaDesc", names)
        for polygon in self.polygons.polygons(region_id):
            _sub(area, "polygon", polygon)
        if region.katottg:
            _pair(area, "geocode", "KATOTTG", region.katottg)
        else:
            _pair(area, "geocode", "COD-AB", region.pcode)
        if region.ukrainealarm_id is not None:
            _pair(area, "geocode", "ukrainealarm", str(region.ukrainealarm_id))
        if region.alerts_in_ua_uid is not None:
            _pair(area, "geocode", "alerts.in.ua", str(region.alerts_in_ua_uid))
