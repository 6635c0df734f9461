#!/usr/bin/env python3
"""Fuzz every operation the hub's OpenAPI document describes, against a real hub.

Schemathesis generates requests from `/openapi.json` and holds every answer to it: no server
error, a documented status, the documented content type, headers and body schema. Region ids,
uids, alert and subscription ids, periods and dates are often (not always) drawn from values the
hub knows, so requests reach the handlers instead of stopping at a 404; requests go with an
operator token scoped to two oblasts, with a junk key, or with none. Live streams are left out
(they never end) and webhook targets point at a closed local port.

    .venv/bin/python bench/fuzz_api.py --cases 50000           # starts its own hub
    .venv/bin/python bench/fuzz_api.py --cases 2000 --seed 7   # a short, repeatable run
    .venv/bin/python bench/fuzz_api.py --url http://127.0.0.1:8080 --token tv_...

Prints the cases run per operation, the statuses seen, every distinct failure and the rate; exits
1 when anything failed. `tests/test_openapi_fuzz.py` runs the same `fuzz()` briefly in the suite.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import checks as st_checks

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]
SKIPPED = {("GET", "/api/v1/stream")}
"""Operations whose answer never ends: the stream tests cover them."""
HOOK_SINK = "http://127.0.0.1:9/hook"
SCOPES = ("Kyivska", "Lvivska")


@dataclass
class Known:
    """Values the hub knows, to steer generated requests into the handlers."""

    region_ids: list[str]
    scoped_ids: list[str]
    ua_ids: list[str]
    uids: list[str]
    alert_ids: list[int] = field(default_factory=lambda: list(range(1, 40)))
    subscription_ids: list[int] = field(default_factory=lambda: list(range(1, 10)))

    def value(self, path: str, name: str, draw: Callable[[Any], Any]) -> Any:
        """A known value for a parameter or body field, or None to keep the generated one."""
        if name in ("region_id", "parent_id", "region"):
            if path.startswith("/api/v3/"):
                return draw(st.sampled_from(self.ua_ids))
            return draw(st.sampled_from(self.region_ids))
        choices: dict[str, st.SearchStrategy[Any]] = {
            "regionId": st.sampled_from(self.ua_ids),
            "uid": st.sampled_from(self.uids),
            "alert_id": st.sampled_from(self.alert_ids),
            "subscription_id": st.sampled_from(self.subscription_ids),
            "period": st.sampled_from(["day_ago", "week_ago", "month_ago"]),
            "name": st.sampled_from(["start-hours", "calendar"]),
            "fmt": st.sampled_from(["png", "svg"]),
            "date": st.dates(date(2022, 2, 24), date.today()).map(lambda d: d.strftime("%Y%m%d")),
            "url": st.just(HOOK_SINK),
            "webHookUrl": st.just(HOOK_SINK),
        }
        strategy = choices.get(name)
        return None if strategy is None else draw(strategy)


@dataclass
class Report:
    cases: int = 0
    seconds: float = 0.0
    per_operation: Counter[str] = field(default_factory=Counter)
    seconds_per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    """Distinct failures (operation, check, status) → one example."""

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        lines = [
            f"{op}: {n} cases, {self.seconds_per_operation[op]:.1f} s"
            for op, n in sorted(self.per_operation.items())
        ]
        lines.append("statuses: " + ", ".join(f"{s}×{n}" for s, n in sorted(self.statuses.items())))
        lines.append(
            f"{self.cases} cases in {self.seconds:.1f} s ({self.rate:.0f}/s); "
            f"{self.server_errors} server errors; {len(self.failures)} distinct failures"
        )
        for key, example in self.failures.items():
            lines.append(f"FAIL {key}\n{example}")
        return "\n".join(lines)


TIMES = frozenset({"from", "to", "since", "until", "time", "occurred_at"})
MAX_ID = 2**63 - 1


def recent_time(draw: Callable[[Any], Any]) -> str:
    start = datetime(2022, 2, 24, tzinfo=UTC)
    moment = draw(st.datetimes(start.replace(tzinfo=None), datetime.now(UTC).replace(tzinfo=None)))
    return moment.isoformat(timespec="seconds") + "Z"


def within_ranges(case: Any, draw: Callable[[Any], Any]) -> None:
    """Keep integers within 64 bits and times within 2022 – now, for a run that leaves values
    outside the ranges the routes state to the tests of those ranges."""
    bags = [b for b in (case.path_parameters, case.query) if b]
    if isinstance(case.body, dict):
        bags.append(case.body)
    for bag in bags:
        for name, value in list(bag.items()):
            if name in TIMES and value is not None:
                bag[name] = recent_time(draw)
            elif isinstance(value, int) and not isinstance(value, bool):
                bag[name] = min(max(value, -MAX_ID), MAX_ID)
            elif isinstance(value, str) and value.lstrip("-").isdigit() and len(value) > 18:
                bag[name] = str(min(max(int(value), -MAX_ID), MAX_ID))


def steer(case: Any, known: Known, draw: Callable[[Any], Any]) -> None:
    """Replace some generated values with known ones (each with probability 1/2)."""
    path = case.operation.path

    def maybe(name: str) -> Any:
        if not draw(st.booleans()):
            return None
        return known.value(path, name, draw)

    for bag in (case.path_parameters, case.query):
        if bag:
            for name in list(bag):
                value = maybe(name)
                if value is not None:
                    bag[name] = value
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name == "region_id" and draw(st.booleans()):
                case.body[name] = draw(st.sampled_from(known.scoped_ids))
            elif name in ("url", "webHookUrl"):
                case.body[name] = HOOK_SINK
            elif name == "regions" and isinstance(case.body[name], list) and draw(st.booleans()):
                case.body[name] = [draw(st.sampled_from(known.scoped_ids))]


def credentials(token: str, draw: Callable[[Any], Any]) -> dict[str, str]:
    kind = draw(st.sampled_from(["token", "token", "token", "junk", "none"]))
    if kind == "token":
        return {"Authorization": f"Bearer {token}"}
    if kind == "junk":
        return {"Authorization": "Bearer tv_not_a_token"}
    return {}


def fuzz(
    base_url: str,
    token: str,
    known: Known,
    cases: int,
    seed: int | None = None,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
    ranged: bool = False,
) -> Report:
    """Run at least `cases` generated requests (spread over every operation) and check each;
    `ranged` keeps values within the stated ranges (see `within_ranges`)."""
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) not in SKIPPED
    ]
    report = Report()
    rng = random.Random(seed)
    session = requests.Session()
    started = time.monotonic()
    rounds = 0
    while report.cases < cases:
        rounds += 1
        remaining = cases - report.cases
        per_operation = max(1, math.ceil(remaining / len(operations)))
        before = report.cases
        for operation in operations:
            _fuzz_operation(
                operation,
                base_url,
                token,
                known,
                per_operation,
                rng.getrandbits(64),
                session,
                report,
                ranged,
            )
            label = f"{operation.method.upper()} {operation.path}"
            log(
                f"  {report.cases:>7} cases, {len(report.failures)} failures · {label} "
                f"({report.seconds_per_operation[label]:.1f} s so far)"
            )
        log(f"round {rounds}: {report.cases} cases, {len(report.failures)} failures")
        if report.cases == before:
            break  # nothing left to generate
    report.seconds = time.monotonic() - started
    return report


def _fuzz_operation(
    operation: Any,
    base_url: str,
    token: str,
    known: Known,
    examples: int,
    seed: int,
    session: requests.Session,
    report: Report,
    ranged: bool = False,
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        steer(case, known, data.draw)
        if ranged:
            within_ranges(case, data.draw)
        headers = credentials(token, data.draw)
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
        except requests.RequestException as exc:
            report.failures.setdefault(f"{label} · transport", f"{type(exc).__name__}: {exc}")
            return
        report.cases += 1
        report.per_operation[label] += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup is a BaseExceptionGroup
            for failure in getattr(exc, "exceptions", [exc]):
                title = getattr(failure, "title", type(failure).__name__)
                key = f"{label} · {title} · {response.status_code}"
                if key not in report.failures:
                    body = response.content[:300].decode(errors="replace")
                    report.failures[key] = (
                        f"  {case.method} {response.request.url}\n  body sent: "
                        f"{str(case.body)[:300]}\n  {getattr(failure, 'message', failure)}\n"
                        f"  answer: {body}"
                    )

    started = time.monotonic()
    run()
    report.seconds_per_operation[label] += time.monotonic() - started


# A hub of its own -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_store(db: str) -> tuple[str, Known]:
    """An operator token scoped to two oblasts, and the ids the hub knows."""
    from tryvoha.compat.ids import crosswalk
    from tryvoha.regions import load_catalogue
    from tryvoha.store import SqlStore

    catalogue = load_catalogue()
    scopes = [catalogue.resolve(name, level="oblast").id for name in SCOPES]
    store = SqlStore(f"sqlite:///{db}")
    token, _ = store.create_token("fuzz-dispatcher", scopes)
    store.close()
    regions = list(catalogue)
    picked = random.Random(1).sample(regions, 200)
    scoped = [r.id for r in regions if any(catalogue.is_within(r.id, s) for s in scopes)]
    cw = crosswalk(catalogue)
    known = Known(
        region_ids=[
            catalogue.country.id,
            *(r.id for r in catalogue.oblasts),
            *(r.id for r in picked),
        ],
        scoped_ids=random.Random(2).sample(scoped, min(100, len(scoped))),
        ua_ids=sorted(set(cw.ua_id_of.values()))[:400],
        uids=[str(u) for u in sorted(cw.by_uid)][:400],
    )
    return token, known


@contextmanager
def own_hub(workdir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str, Known]]:
    """`tryvoha serve` on a fresh SQLite file; yields its URL, the token and the known ids."""
    db = str(workdir / "fuzz.db")
    token, known = prepare_store(db)
    port = free_port()
    environ = {**os.environ, "TRYVOHA_LOAD_HISTORY": "0", **(env or {})}
    cmd = [sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--port", str(port)]
    # The hub's log goes to a file: a pipe nobody drains would fill up and stall the hub.
    log_path = workdir / "hub.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*cmd, "--no-history"], env=environ, stdout=subprocess.DEVNULL, stderr=log_file
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the hub exited: {log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the hub did not start within 30 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", token, known
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--url", help="fuzz this running hub instead of starting one")
    parser.add_argument("--token", help="an operator token of that hub (with --url)")
    parser.add_argument(
        "--ranged",
        action="store_true",
        help="keep integers within 64 bits and times within 2022 to now",
    )
    args = parser.parse_args()
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token")
        _, known = prepare_store(str(Path(tempfile.mkdtemp(prefix="fuzz-")) / "ids.db"))
        report = fuzz(
            args.url.rstrip("/"), args.token, known, args.cases, args.seed, ranged=args.ranged
        )
    else:
        limits_off = {
            f"TRYVOHA_COMPAT_{name}": "0"
            for name in ("AIU_PER_MIN", "AIU_HISTORY_PER_MIN", "UA_PER_MIN", "KEYLESS_PER_5MIN")
        }
        with own_hub(Path(tempfile.mkdtemp(prefix="fuzz-")), limits_off) as (url, token, known):
            report = fuzz(url, token, known, args.cases, args.seed, ranged=args.ranged)
    print(report.summary())
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
