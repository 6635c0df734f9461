"""history/sources.py: rows of the public data sets become regions and times, or problems."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tryvoha.history.sources import (
    RESOLVER_CACHE,
    HistoryRow,
    RowProblem,
    _Resolver,
    parse_time,
    read_official,
    read_volunteer,
    row_key,
)
from tryvoha.regions import Catalogue, UnknownRegion

OFFICIAL_HEAD = "oblast,raion,hromada,level,started_at,finished_at,source\n"
VOLUNTEER_HEAD = "region,started_at,finished_at,naive\n"
START, END = "2022-03-15 16:11:50+00:00", "2022-03-15 16:54:47+00:00"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_official_rows_at_every_level(tmp_path: Path, catalogue: Catalogue) -> None:
    path = write(
        tmp_path,
        "official.csv.gz",
        OFFICIAL_HEAD
        + f"Cherkaska oblast,,,oblast,{START},{END},official\n"
        + f"Cherkaska oblast,Umanskyi raion,,raion,{START},{END},official\n"
        + f"Cherkaska oblast,Umanskyi raion,Umanska terytorialna hromada,hromada,{START},{END},x\n",
    )
    rows = list(read_official(path, catalogue))
    oblast = catalogue.resolve("Cherkaska oblast")
    raion = catalogue.resolve("Umanskyi raion")
    hromada = catalogue.resolve("Umanska terytorialna hromada")
    assert [(r.line, r.region_id) for r in rows] == [(2, oblast.id), (3, raion.id), (4, hromada.id)]
    first = rows[0]
    assert isinstance(first, HistoryRow)
    assert first.started_at == datetime(2022, 3, 15, 16, 11, 50, tzinfo=UTC)
    assert first.ended_at == datetime(2022, 3, 15, 16, 54, 47, tzinfo=UTC)
    assert first.key == row_key(oblast.id, first.started_at, first.ended_at) and first.notes is None


def test_names_in_the_wrong_columns_still_name_one_place(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    path = write(
        tmp_path,
        "official.csv",
        OFFICIAL_HEAD + f"Cherkaska oblast,Umanska terytorialna hromada,,hromada,{START},{END},o\n",
    )
    (row,) = read_official(path, catalogue)
    assert row == HistoryRow(
        2,
        catalogue.resolve("Umanska terytorialna hromada").id,
        datetime(2022, 3, 15, 16, 11, 50, tzinfo=UTC),
        datetime(2022, 3, 15, 16, 54, 47, tzinfo=UTC),
        row.key,
    )


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (f"Atlantis oblast,,,oblast,{START},{END},o", "unknown place 'Atlantis oblast' (oblast)"),
        (f"Cherkaska oblast,Nowhere raion,,raion,{START},{END},o", "unknown place"),
        (f"Cherkaska oblast,,,city,{START},{END},o", "unknown level 'city'"),
        (f"Cherkaska oblast,,,oblast,yesterday,{END},o", "unreadable time 'yesterday'"),
        (f"Cherkaska oblast,,,oblast,{START},,o", "unreadable time"),
        (f"Cherkaska oblast,,,oblast,{END},{START},o", "ends before it starts"),
        (f"Cherkaska oblast,,,oblast,{START},{START},o", "ends before it starts"),
        (f"Cherkaska oblast,,,oblast,1999-12-31 23:00:00+00:00,{END},o", "outside the range"),
        (f"Cherkaska oblast,,,oblast,{START},2999-01-01 00:00:00+00:00,o", "outside the range"),
        ("Cherkaska oblast,,,oblast", "unreadable time"),  # a short row
    ],
)
def test_a_bad_row_is_a_problem_naming_its_line(
    tmp_path: Path, catalogue: Catalogue, row: str, words: str
) -> None:
    good = f"Cherkaska oblast,,,oblast,{START},{END},official\n"
    path = write(tmp_path, "official.csv", OFFICIAL_HEAD + good + row + "\n" + good)
    rows = list(read_official(path, catalogue))
    assert [type(r) for r in rows] == [HistoryRow, RowProblem, HistoryRow]
    assert rows[1].line == 3 and words in rows[1].reason, rows[1].reason


def test_a_file_of_another_data_set_is_refused_whole(tmp_path: Path, catalogue: Catalogue) -> None:
    path = write(tmp_path, "volunteer.csv", VOLUNTEER_HEAD + f"Kyiv City,{START},{END},False\n")
    with pytest.raises(ValueError, match="missing columns oblast, raion, hromada, level"):
        list(read_official(path, catalogue))
    path = write(tmp_path, "official.csv", OFFICIAL_HEAD)
    with pytest.raises(ValueError, match="missing columns region"):
        list(read_volunteer(path, catalogue))


def test_volunteer_rows_and_estimated_ends(tmp_path: Path, catalogue: Catalogue) -> None:
    path = write(
        tmp_path,
        "volunteer.csv",
        VOLUNTEER_HEAD
        + f"Kyiv City,{START},{END},True\n"
        + f"Cherkaska oblast,{START},{END},False\n"
        + f"Cherkaska oblast,{START},{END}\n"
        + f"Neverland,{START},{END},False\n",
    )
    kyiv, cherkasy, no_flag, unknown = read_volunteer(path, catalogue)
    assert kyiv.region_id == catalogue.resolve("Kyiv City").id
    assert kyiv.notes == "end not reported; estimated as start + 30 min"
    assert cherkasy.notes is None and no_flag.notes is None
    assert isinstance(unknown, RowProblem) and unknown.line == 5
    assert "unknown place 'Neverland'" in unknown.reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2022-03-15 16:11:50+00:00", datetime(2022, 3, 15, 16, 11, 50, tzinfo=UTC)),
        ("2022-03-15T18:11:50+02:00", datetime(2022, 3, 15, 16, 11, 50, tzinfo=UTC)),
        (
            " 2022-03-15 16:11:50 ",
            datetime(2022, 3, 15, 16, 11, 50, tzinfo=UTC),
        ),  # UTC, as documented
        ("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),
    ],
)
def test_times_are_utc(text: str, value: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == value and parsed.utcoffset() == timedelta(0)


def test_a_past_alert_cannot_lie_in_the_future() -> None:
    soon = datetime.now(UTC) + timedelta(minutes=2)
    assert parse_time(soon.isoformat()) == soon
    with pytest.raises(ValueError, match="outside the range"):
        parse_time((datetime.now(UTC) + timedelta(hours=1)).isoformat(), "started_at")


def test_the_key_is_the_same_alert_whatever_the_offset() -> None:
    start = parse_time("2022-03-15T18:00:00+02:00")
    end = start + timedelta(minutes=30)
    key = row_key("UA71", start, end)
    assert key == row_key("UA71", parse_time("2022-03-15 16:00:00"), end) and len(key) == 24
    assert key != row_key("UA71", start, end + timedelta(seconds=1))
    assert key != row_key("UA72", start, end)
    assert row_key("UA71", start, None) != key


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lines_are_the_file_s_own_after_quoted_multi_line_fields(
    tmp_path: Path, catalogue: Catalogue, newline: str
) -> None:
    """A row's line is where it starts in the file, whatever quoted line breaks and blank lines
    came before it, in both data sets."""
    good = f"Cherkaska oblast,,,oblast,{START},{END},official"
    quoted = f'Cherkaska oblast,,,oblast,{START},{END},"one{newline}two{newline}three"'
    rows = [good, quoted, "", "Neverland,,,oblast,,,x", quoted, "Neverland,,,oblast,,,x"]
    path = write(tmp_path, "official.csv", OFFICIAL_HEAD + newline.join(rows) + newline)
    read = list(read_official(path, catalogue))
    assert [(type(r), r.line) for r in read] == [
        (HistoryRow, 2),
        (HistoryRow, 3),
        (RowProblem, 7),
        (HistoryRow, 8),
        (RowProblem, 11),
    ]
    volunteer = [f'Kyiv City,{START},{END},"False{newline}"', "", "", "Neverland,,,False"]
    path = write(tmp_path, "volunteer.csv", VOLUNTEER_HEAD + newline.join(volunteer) + newline)
    first, problem = read_volunteer(path, catalogue)
    assert (first.line, problem.line) == (2, 6)


def test_the_name_cache_is_bounded(catalogue: Catalogue) -> None:
    """A file naming ever new places does not grow memory without bound; the places named
    most recently stay cached."""
    assert _Resolver(catalogue).size == RESOLVER_CACHE
    resolve = _Resolver(catalogue, size=8)
    cherkasy = resolve("oblast", "Cherkaska oblast")
    for i in range(30):
        with pytest.raises(UnknownRegion):
            resolve("oblast", f"Neverland {i}")
        assert resolve("oblast", "Cherkaska oblast") == cherkasy  # used again: kept
        assert len(resolve._cache) <= 8
    assert ("oblast", "Cherkaska oblast") in resolve._cache
    assert ("oblast", "Neverland 0") not in resolve._cache
    with pytest.raises(UnknownRegion):
        resolve("oblast", "x" * 1000)
    assert ("oblast", "x" * 1000) not in resolve._cache


def test_a_cached_refusal_does_not_grow_with_each_repeat(catalogue: Catalogue) -> None:
    resolve = _Resolver(catalogue)
    depths = []
    for _ in range(50):
        try:
            resolve("oblast", "Neverland")
        except UnknownRegion as exc:
            depth, tb = 0, exc.__traceback__
            while tb is not None:
                depth, tb = depth + 1, tb.tb_next
            depths.append(depth)
    assert max(depths) == min(depths)
