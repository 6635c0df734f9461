"""The suite does not depend on the machine's clock or zone.

The tests that read "today", a Kyiv day or a time of day run again in subprocesses: once with the
clock at 23:30 UTC (already the next day in Kyiv) in a zone behind UTC, once at 10:30 UTC (already
the next day in the machine's zone, not in Kyiv) fourteen hours ahead of UTC. libfaketime (Debian
package `faketime`, installed by scripts/ensure-test-services.sh) shifts the clock of the
subprocess and of everything it starts, hubs included. `make test-clock` runs the whole suite so.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

REPO = Path(__file__).resolve().parents[1]
KYIV = ZoneInfo("Europe/Kyiv")
DATE_SENSITIVE = [
    "tests/test_map.py::test_todays_count_counts_alerts_over_and_within_a_region",
    "tests/test_map.py::test_kyiv_midnight_follows_summer_time",
    "tests/test_compat.py::test_ukrainealarm_history_and_date_history",
    "tests/test_compat.py::test_date_history_reads_a_kyiv_day",
    "tests/test_compat.py::test_history_periods_and_errors",
    "tests/test_history.py::test_stats_api",
    "tests/test_history.py::test_cli_import_and_stats",
    "tests/test_tokens.py::test_output_names_regions_and_says_the_zone_of_its_times",
    "tests/test_cli.py::test_declare_list_status_end",  # a hub in a process of its own
]
CLOCKS = {
    "23:30 UTC in America/Adak": ("23:30", "America/Adak"),
    "10:30 UTC in Pacific/Kiritimati": ("10:30", "Pacific/Kiritimati"),
}


def faketime() -> str:
    """The faketime wrapper; skipped locally without it, a failure in CI (like a service)."""
    found = shutil.which("faketime")
    if found:
        return found
    message = "faketime is not installed (apt-get install faketime; ensure-test-services does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# The subprocesses start from the real clock, also when this suite already runs under faketime.
UNFAKED = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}


def real_now() -> datetime:
    """The machine's real clock, read by a process without libfaketime."""
    stamp = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=UNFAKED,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return datetime.fromtimestamp(float(stamp), UTC)


def seconds_until(hh_mm: str) -> int:
    """How far ahead the next `hh_mm` UTC is: the offset that puts the clock there."""
    now = real_now()
    hour, minute = map(int, hh_mm.split(":"))
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return math.ceil((target - now).total_seconds())


def shifted(command: list[str], hh_mm: str, zone: str, **kw) -> subprocess.CompletedProcess:
    """`command` with the clock moved to the next `hh_mm` UTC (monotonic clocks move alike, so
    sleeps and timeouts keep working) and TZ set to `zone`."""
    offset = seconds_until(hh_mm)
    return subprocess.run(
        [faketime(), "-m", "-f", f"+{offset}", *command],
        env={**UNFAKED, "TZ": zone},
        cwd=REPO,
        capture_output=True,
        text=True,
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("hh_mm", "zone"), CLOCKS.values(), ids=CLOCKS.keys())
def test_date_sensitive_tests_pass_at_any_hour_in_any_zone(
    hh_mm: str, zone: str, tmp_path: Path
) -> None:
    probe = shifted(
        [sys.executable, "-c", "from datetime import datetime; print(datetime.now().astimezone())"],
        hh_mm,
        zone,
        timeout=30,
    )
    seen = datetime.fromisoformat(probe.stdout.strip())
    assert seen.astimezone(UTC).strftime("%H:%M") == hh_mm, probe.stdout + probe.stderr
    assert seen.utcoffset() == seen.astimezone(ZoneInfo(zone)).utcoffset()
    assert seen.date() != seen.astimezone(KYIV).date(), "the zone's day must not be Kyiv's"

    pytest_args = ["-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "pytest")]
    run = shifted(
        [sys.executable, "-m", "pytest", *pytest_args, *DATE_SENSITIVE],
        hh_mm,
        zone,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
