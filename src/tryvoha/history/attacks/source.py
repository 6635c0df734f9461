"""Reading the attacks data set: one CSV row per (attack window, weapon model, reporting post).

"Massive Missile Attacks on Ukraine" (Petro Ivaniuk, Kaggle `piterfm`), compiled by hand from the
reports of Ukraine's Air Force Command, its regional air commands and the General Staff. Its
licence (CC BY-NC-SA 4.0) is not the hub's: the files are read at import time only and never
shipped with the package; the licence and attribution are recorded with every import and shown
wherever the figures are.

A row that cannot be read becomes a `RowProblem` with its line number and the reason; a file that
is not this data set at all raises `AttacksFileError` before anything is read into the store.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from tryvoha.history.attacks.weapons import Classified, Reference, WeaponClass, classify
from tryvoha.history.kyiv import KYIV
from tryvoha.history.sources import RowProblem

DATASET = "Massive Missile Attacks on Ukraine"
LICENCE = "CC BY-NC-SA 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
SOURCE_URL = "https://www.kaggle.com/datasets/piterfm/massive-missile-attacks-on-ukraine"
ATTRIBUTION = (
    "Petro Ivaniuk (Kaggle: piterfm), “Massive Missile Attacks on Ukraine”, compiled from the "
    "reports of the Air Force Command of the Armed Forces of Ukraine, its regional air commands "
    "and the General Staff"
)

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_FIELD = 4_000
MAX_COUNT = 100_000
MAX_WINDOW = timedelta(days=31)
FIRST_DAY, LAST_DAY = date(2014, 1, 1), date(2099, 12, 31)

REQUIRED = ("time_start", "time_end", "model", "launched", "destroyed", "source")
REFERENCE_REQUIRED = ("model", "category")
_COUNTS = {
    "launched": "launched",
    "destroyed": "destroyed",
    "not_reach_goal": "lost",
    "still_attacking": "in_air",
    "is_shahed": "shaheds",
    "num_hit_location": "hit_places",
    "num_fall_fragment_location": "debris_places",
    "turbojet": "turbojet",
    "turbojet_destroyed": "turbojet_destroyed",
}
_TEXTS = {
    "launch_place": "launch_place",
    "target": "target",
    "target_main": "target_main",
    "carrier": "carrier",
}
_Literal = type[dict[Any, Any]] | type[list[Any]]
_DETAILS: dict[str, tuple[str, _Literal]] = {
    "affected region": ("affected_regions", list),
    "border_crossing": ("border_crossing", dict),
    "destroyed_details": ("destroyed_details", dict),
    "launched_details": ("launched_details", dict),
    "launch_place_details": ("launch_place_details", dict),
}


@dataclass(frozen=True, slots=True)
class Reporter:
    label: str
    level: str
    """`national` (whole-country reports), `regional` (an air command or oblast), `other`."""


NATIONAL, REGIONAL, OTHER = "national", "regional", "other"
LEVELS = (NATIONAL, REGIONAL, OTHER)
REPORTERS: dict[str, Reporter] = {
    "kpszsu": Reporter("Air Force Command", NATIONAL),
    "generalstaff.ua": Reporter("General Staff", NATIONAL),
    "cincafu": Reporter("Commander-in-Chief", NATIONAL),
    "pvkpivden": Reporter("Air Command South", REGIONAL),
    "pvkshid": Reporter("Air Command East", REGIONAL),
    "pvkzahid": Reporter("Air Command West", REGIONAL),
    "pvkcenter": Reporter("Air Command Center", REGIONAL),
    "kharkivoda.gov.ua": Reporter("Kharkiv Oblast Administration", REGIONAL),
}
"""Posting channels by name (case-insensitive); any other channel is reported as `other`."""


class AttacksFileError(ValueError):
    """The file as a whole is not this data set (nothing of it is imported)."""


@dataclass(frozen=True, slots=True)
class Window:
    """An attack window in UTC, with the dates it is filed under (Kyiv dates).

    `report_day`: the date of `time_end` as written; `start_day`: the date of `time_start`;
    `night`: the night the attack began in (named by its evening, as in the alert statistics),
    or the night after when it began between 06:00 and 22:00; a start given by date only is
    00:00, so it belongs to the night before that date."""

    start: datetime
    end: datetime
    start_text: str
    end_text: str
    start_date_only: bool
    end_date_only: bool
    report_day: date
    start_day: date
    night: date

    @property
    def date_only(self) -> bool:
        return self.start_date_only or self.end_date_only


@dataclass(frozen=True, slots=True)
class Part:
    """One model of a combined row, with its own launched count from `launched_details`."""

    model: str
    weapon_class: WeaponClass
    launched: int
    launch_place: str | None


@dataclass(slots=True)
class AttackRow:
    line: int
    window: Window
    channel: str
    reporter: Reporter
    post: str
    model: str
    classified: Classified
    counts: dict[str, int | None]
    texts: dict[str, str | None]
    details: dict[str, str | None]
    parts: tuple[Part, ...] = ()
    key: str = ""
    digest: str = ""

    @property
    def attack_key(self) -> str:
        return _hash(self.window.start_text, self.window.end_text, self.channel.lower())


@dataclass(slots=True)
class ReadResult:
    rows: list[AttackRow]
    problems: list[RowProblem]
    notes: list[RowProblem]
    records: int
    sha256: str


@dataclass(slots=True)
class ReferenceResult:
    models: dict[str, Reference]
    notes: list[RowProblem] = field(default_factory=list)
    sha256: str = ""


# Files ----------------------------------------------------------------------------------------


def _text(path: str | Path, what: str) -> tuple[str, str]:
    """The file's text and sha256; a clear AttacksFileError for anything that is not a text CSV."""
    path = Path(path)
    if not path.is_file():
        raise AttacksFileError(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise AttacksFileError(f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise AttacksFileError(f"{path.name} is not a gzip file: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AttacksFileError(f"{path.name} is not a UTF-8 CSV ({what}): {exc}") from None
    if not text.strip():
        raise AttacksFileError(f"{path.name} is empty")
    return text, hashlib.sha256(data).hexdigest()


def _records(text: str, required: tuple[str, ...], what: str, name: str):
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or ()]
    reader.fieldnames = columns
    missing = [c for c in required if c not in columns]
    if missing:
        raise AttacksFileError(
            f"{name} is not {what}: missing columns {', '.join(missing)} "
            f"(its columns: {', '.join(columns[:12]) or 'none'})"
        )
    line = 1
    try:
        for count, record in enumerate(reader, 1):
            if count > MAX_ROWS:
                raise AttacksFileError(f"{name} has more than {MAX_ROWS:,} rows")
            yield line + 1, record
            line = reader.line_num
    except csv.Error as exc:
        raise AttacksFileError(f"{name}, line {line + 1}: not a readable CSV: {exc}") from None


def read_reference(path: str | Path) -> ReferenceResult:
    """`missiles_and_uavs.csv`: model → category, type and the rest of the row."""
    text, digest = _text(path, "the weapon reference")
    name = Path(path).name
    result = ReferenceResult({}, sha256=digest)
    for line, record in _records(text, REFERENCE_REQUIRED, "the weapon reference", name):
        model = (record.get("model") or "").strip()
        if not model:
            result.notes.append(RowProblem(line, "weapon reference row without a model: skipped"))
            continue
        key = model.lower()
        if key in result.models:
            result.notes.append(RowProblem(line, f"model {model!r} listed twice; this row wins"))
        values = {k: (v or "").strip()[:MAX_FIELD] for k, v in record.items() if k}
        result.models[key] = Reference(
            model, values.get("category", ""), values.get("type", ""), values
        )
    if not result.models:
        raise AttacksFileError(f"{name} lists no weapon models")
    return result


def read_attacks(path: str | Path, reference: Mapping[str, Reference]) -> ReadResult:
    """Every row of `missile_attacks_daily.csv`, read and classified, with keys assigned."""
    text, digest = _text(path, "the attacks data set")
    name = Path(path).name
    rows: list[AttackRow] = []
    problems: list[RowProblem] = []
    notes: list[RowProblem] = []
    records = 0
    classes = _Classes(reference)
    for line, record in _records(text, REQUIRED, "the attacks data set", name):
        records += 1
        try:
            row = _row(line, record, classes, notes)
        except _Problem as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        rows.append(row)
    if records == 0:
        raise AttacksFileError(f"{name} has a header but no rows")
    _assign_keys(rows)
    return ReadResult(rows, problems, notes, records, digest)


# Rows -----------------------------------------------------------------------------------------


class _Problem(Exception):
    pass


class _Classes(dict[str, Classified]):
    """Model → classification, worked out once per distinct model string."""

    def __init__(self, reference: Mapping[str, Reference]) -> None:
        super().__init__()
        self.reference = reference

    def __missing__(self, model: str) -> Classified:
        found = self[model] = classify(model, self.reference)
        return found


def _row(
    line: int, record: dict[str, Any], classes: _Classes, notes: list[RowProblem]
) -> AttackRow:
    for column, value in record.items():
        if column is None:
            raise _Problem(f"more fields than the header has columns ({len(value)} extra)")
        if value is not None and len(value) > MAX_FIELD:
            raise _Problem(f"{column} is longer than {MAX_FIELD} characters")
    window = _window(record.get("time_start"), record.get("time_end"))
    model = " ".join((record.get("model") or "").split())
    if not model:
        raise _Problem("no model")
    post = (record.get("source") or "").strip()
    if not post:
        raise _Problem("no source (the post the row was taken from)")
    channel = channel_of(post)
    reporter = REPORTERS.get(channel.lower(), Reporter(channel, OTHER))
    counts = {name: _count(column, record.get(column)) for column, name in _COUNTS.items()}
    texts = {name: _clean(record.get(column)) for column, name in _TEXTS.items()}
    parsed = {
        name: _literal(column, record.get(column), t) for column, (name, t) in _DETAILS.items()
    }
    details = {k: None if v is None else orjson.dumps(v).decode() for k, v in parsed.items()}
    classified = classes[model]
    if not classified.in_reference:
        notes.append(
            RowProblem(
                line,
                f"model {model!r} is not in the weapon reference; classed as "
                f"{classified.weapon_class.value}",
            )
        )
    launched, destroyed, lost = counts["launched"], counts["destroyed"], counts["lost"]
    if launched is not None and (destroyed or 0) + (lost or 0) > launched:
        notes.append(
            RowProblem(
                line,
                f"shot down {destroyed} + lost {lost or 0} is more than the {launched} launched",
            )
        )
    row = AttackRow(
        line, window, channel, reporter, post, model, classified, counts, texts, details
    )
    row.parts = _parts(row, parsed, classes, notes)
    return row


_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _moment(text: str | None, column: str) -> tuple[datetime, bool, str]:
    """Kyiv wall time → (UTC instant, date only?, normalised text); a date alone is 00:00."""
    value = " ".join((text or "").split())
    found = _TIME.match(value)
    if not found:
        raise _Problem(f"{column} is not a date or a date and time: {value!r}")
    year, month, day_of_month, hour, minute, second = found.groups()
    y, mo, d = int(year), int(month), int(day_of_month)
    s = int(second) if second is not None else None
    try:
        day = date(y, mo, d)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(f"outside {FIRST_DAY}..{LAST_DAY}")
        if hour is None:
            local = datetime(y, mo, d, tzinfo=KYIV)
            return local.astimezone(UTC), True, day.isoformat()
        h, mi = int(hour), int(minute)  # the pattern has both or neither
        local = datetime(y, mo, d, h, mi, s or 0, tzinfo=KYIV)
    except ValueError as exc:
        raise _Problem(f"{column} is not a valid time: {value!r} ({exc})") from None
    clock = f"{h:02d}:{mi:02d}" + (f":{s:02d}" if s else "")
    return local.astimezone(UTC), False, f"{day.isoformat()} {clock}"


def _window(start_text: str | None, end_text: str | None) -> Window:
    start, start_date, start_norm = _moment(start_text, "time_start")
    end, end_date, end_norm = _moment(end_text, "time_end")
    report_day = date.fromisoformat(end_norm[:10])
    if end_date:  # a date alone ends at the end of that Kyiv day
        end = datetime.combine(report_day + timedelta(days=1), datetime.min.time(), KYIV)
        end = end.astimezone(UTC)
    if end < start:
        raise _Problem(f"the window ends before it starts ({start_norm} → {end_norm})")
    if end - start > MAX_WINDOW:
        raise _Problem(
            f"the window is longer than {MAX_WINDOW.days} days ({start_norm} → {end_norm})"
        )
    local_start = start.astimezone(KYIV)
    night = (local_start - timedelta(hours=6)).date()
    return Window(
        start,
        end,
        start_norm,
        end_norm,
        start_date,
        end_date,
        report_day,
        date.fromisoformat(start_norm[:10]),
        night,
    )


def _count(column: str, text: str | None) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _Problem(f"{column} is not a number: {value!r}") from None
    if not math.isfinite(number) or number != int(number) or not 0 <= number <= MAX_COUNT:
        raise _Problem(f"{column} is not a whole number from 0 to {MAX_COUNT:,}: {value!r}")
    return int(number)


def _clean(text: str | None) -> str | None:
    value = " ".join((text or "").split())
    return value or None


_NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def _literal(column: str, text: str | None, expected: _Literal) -> Any:
    """A Python-literal dict or list as the data set writes them (`{'south': 49, 'east': NaN}`);
    NaN (not reported) becomes None. Empty → None."""
    value = (text or "").strip()
    if not value:
        return None
    if value in ("{}", "[]"):
        return expected()
    try:
        parsed = ast.literal_eval(_NAN.sub("None", value))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise _Problem(f"{column} is not a {expected.__name__} literal: {value[:80]!r}") from None
    if not isinstance(parsed, expected):
        raise _Problem(f"{column} is not a {expected.__name__}: {value[:80]!r}")
    items = parsed.items() if isinstance(parsed, dict) else enumerate(parsed)
    for k, v in items:
        if not isinstance(k, int | str) or not (v is None or isinstance(v, int | float | str)):
            raise _Problem(f"{column} holds something other than names and numbers")
        if isinstance(v, float) and not math.isfinite(v):
            raise _Problem(f"{column} holds a number that is not finite")
    if isinstance(parsed, dict):
        return {str(k).strip(): _whole(v) for k, v in parsed.items()}
    return [_whole(v) for v in parsed]


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value.strip() if isinstance(value, str) else value


def _parts(
    row: AttackRow, parsed: dict[str, Any], classes: _Classes, notes: list[RowProblem]
) -> tuple[Part, ...]:
    """The per-model split of a combined row, only where `launched_details` gives a whole
    number for each of its models and they add up to the row's `launched`."""
    split = parsed.get("launched_details")
    if not split:
        return ()
    names = row.classified.parts
    if len(names) < 2:
        notes.append(RowProblem(row.line, "launched_details on a single-model row: ignored"))
        return ()
    numbers = {k: v for k, v in split.items() if isinstance(v, int) and v >= 0}
    if set(split) != set(names) or len(numbers) != len(names):
        notes.append(
            RowProblem(
                row.line,
                f"launched_details {split} does not give a count for each of {', '.join(names)}: "
                "row not split",
            )
        )
        return ()
    if sum(numbers.values()) != row.counts["launched"]:
        notes.append(
            RowProblem(
                row.line,
                f"launched_details adds up to {sum(numbers.values())}, not the "
                f"{row.counts['launched']} launched: row not split",
            )
        )
        return ()
    places = parsed.get("launch_place_details") or {}
    return tuple(
        Part(
            name,
            classes[name].weapon_class,
            numbers[name],
            _clean(places.get(name)) if isinstance(places.get(name), str) else None,
        )
        for name in names
    )


def channel_of(post: str) -> str:
    """`kpszsu/posts/…` → `kpszsu`; `https://t.me/kpszsu/22252` → `kpszsu`; a site → its host."""
    value = post.strip()
    if "://" in value:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        path = [p for p in parts.path.split("/") if p]
        if host in ("t.me", "telegram.me", "facebook.com", "www.facebook.com") and path:
            return path[0]
        return host or value
    return value.split("/", 1)[0] or value


def _hash(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]


def _assign_keys(rows: list[AttackRow]) -> None:
    """A row's key: its window, model and channel, and which of the rows sharing those it is
    in file order (posts list two Iskander-M rows of one night by target). Figures are not in
    the key, so a corrected figure updates the row rather than adding one; the digest covers
    every value, so an unchanged row is recognised and left alone."""
    seen: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        ident = (row.window.start_text, row.window.end_text, row.model.lower(), row.channel.lower())
        seen[ident] += 1
        row.key = _hash(*ident, str(seen[ident]))
        row.digest = hashlib.sha1(orjson.dumps(_content(row))).hexdigest()


def _content(row: AttackRow) -> list[Any]:
    return [
        row.window.start_text,
        row.window.end_text,
        row.post,
        row.model,
        row.classified.weapon_class.value,
        row.counts,
        row.texts,
        row.details,
        [(p.model, p.weapon_class.value, p.launched, p.launch_place) for p in row.parts],
    ]
