"""The OpenAPI document describes the real answers: schemathesis against `tryvoha serve`.

Every documented operation (except the never-ending stream) gets generated requests, with an
operator token scoped to two oblasts, a junk key or none, and ids the hub knows mixed in; every
answer is held to the document: no server error, a documented status, content type, headers and
body. Integers stay within 64 bits and times within 2022 to now here: values outside the ranges
the routes state are the business of the range tests. `bench/fuzz_api.py` runs the same fuzz for
as long as one likes, without that restriction.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "fuzz_api.py"
CASES = 4000


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_every_answer_matches_the_openapi_document(tmp_path: Path) -> None:
    fuzz_api = load_script()
    limits_off = {
        f"TRYVOHA_COMPAT_{name}": "0"
        for name in ("AIU_PER_MIN", "AIU_HISTORY_PER_MIN", "UA_PER_MIN", "KEYLESS_PER_5MIN")
    }
    with fuzz_api.own_hub(tmp_path, limits_off) as (url, token, known):
        report = fuzz_api.fuzz(url, token, known, CASES, seed=20251201, ranged=True)
    print(report.summary())
    assert report.cases >= CASES
    assert len(report.per_operation) >= 45, "every operation but the stream was exercised"
    reached = {s for s in report.statuses if s < 300}
    assert {200, 201} <= reached, "requests reached the handlers, not only the refusals"
    assert report.server_errors == 0
    assert report.failures == {}, "\n".join(report.failures)
