"""Copy the OASIS CAP 1.2 schema into the package, so the hub validates every CAP message it
serves without the shared data at run time.

    .venv/bin/python scripts/build_cap_schema.py [--source ../shared/data/cap/CAP-v1.2.xsd]

The copy is checked against the SHA-256 recorded in the data set's SOURCES.md: a changed or
truncated schema is refused rather than shipped.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "src" / "tryvoha" / "channels" / "cap" / "data" / "CAP-v1.2.xsd"
SHA256 = "b7798ef25868b068c97b268bda02d067c7d4ba9373adc5638bf37105804ee723"


def default_source() -> Path:
    """`shared/data/cap/CAP-v1.2.xsd` in the nearest directory above the checkout holding it."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "data" / "cap" / "CAP-v1.2.xsd"
        if candidate.exists():
            return candidate
    return REPO.parent / "shared" / "data" / "cap" / "CAP-v1.2.xsd"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None)
    args = parser.parse_args()
    source = args.source or default_source()
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"{source}: SHA-256 {digest} is not the OASIS schema's {SHA256}", file=sys.stderr)
        return 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(data)
    print(f"wrote {TARGET.relative_to(REPO)} ({len(data):,} bytes, sha256 {digest[:12]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
