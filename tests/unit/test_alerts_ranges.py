"""alerts/ranges.py: every value the log holds has a documented range, checked at its bounds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tryvoha.alerts.ranges import (
    EARLIEST,
    LATEST,
    MAX_ID,
    MAX_KEY,
    MAX_NOTES,
    MAX_REASON,
    OutOfRange,
    check_id,
    check_key,
    check_notes,
    check_reason,
    check_text,
    check_time,
)

TICK = timedelta(microseconds=1)


def refusal(check: Callable[..., object], *args: object) -> OutOfRange:
    with pytest.raises(OutOfRange) as refused:
        check(*args)
    return refused.value


def test_times_from_2000_inclusive_to_2100_exclusive_with_a_zone() -> None:
    assert check_time(EARLIEST, "t") == EARLIEST
    assert check_time(LATEST - TICK, "t") == LATEST - TICK
    kyiv = datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert check_time(kyiv, "t") == kyiv
    for outside in (EARLIEST - TICK, LATEST):
        problem = refusal(check_time, outside, "occurred_at")
        assert (problem.field, problem.code) == ("occurred_at", "time_out_of_range")
        assert "2000-01-01T00:00Z (inclusive) to 2100-01-01T00:00Z (exclusive)" in problem.message
    naive = refusal(check_time, datetime(2024, 1, 1), "occurred_at")
    assert naive.code == "time_without_zone"
    early = datetime(2024, 1, 1, tzinfo=UTC)
    assert refusal(check_time, early, "t", early).code == "time_out_of_range"  # own upper bound


def test_ids_from_1_to_2_to_the_53_minus_1_integers_only() -> None:
    assert check_id(1, "id") == 1 and check_id(MAX_ID, "id") == MAX_ID
    assert check_id(0, "after", minimum=0) == 0
    for bad in (0, MAX_ID + 1, True, 1.0, "1"):
        problem = refusal(check_id, bad, "alert_id")
        assert (problem.field, problem.code) == ("alert_id", "id_out_of_range")


def test_notes_up_to_2000_characters_with_newlines_and_tabs_only() -> None:
    check_notes(None)
    check_notes("")
    check_notes("x" * MAX_NOTES)
    check_notes("рядок\n\tдругий")
    assert refusal(check_notes, "x" * (MAX_NOTES + 1)).code == "notes_too_long"
    for char in ("\x00", "\x0b", "\x1f", "\x7f", "\x9f", "\ud800", "\ufffe", "\uffff"):
        problem = refusal(check_notes, f"ab{char}")
        assert problem.code == "notes_invalid"
        assert f"U+{ord(char):04X} (character 3)" in problem.message


def test_a_reason_is_required_up_to_500_characters() -> None:
    assert check_reason("x" * MAX_REASON) == "x" * MAX_REASON
    for missing in (None, "", "   ", 5):
        assert refusal(check_reason, missing).code == "reason_missing"
    assert refusal(check_reason, "x" * (MAX_REASON + 1)).code == "reason_too_long"
    assert refusal(check_reason, "bad\x00").code == "reason_invalid"


def test_an_idempotency_key_is_1_to_200_printable_ascii_characters() -> None:
    check_key(" ")
    check_key("~" * MAX_KEY)
    for bad in ("", "k" * (MAX_KEY + 1), "ключ", "a\tb", "a\x7f"):
        assert refusal(check_key, bad).code == "invalid_idempotency_key"


def test_names_are_bounded_and_free_of_control_characters() -> None:
    check_text("x" * 32, "region_id", 32)
    assert refusal(check_text, "x" * 33, "region_id", 32).code == "text_too_long"
    problem = refusal(check_text, "UA\x0080", "region_id", 32)
    assert (problem.code, problem.message) == ("text_invalid", "region_id may not hold U+0000")
