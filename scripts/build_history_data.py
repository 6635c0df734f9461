"""Copy the official alert record (MIT, Vadym Klymenko) into package data, gzip-compressed.

    .venv/bin/python scripts/build_history_data.py [../shared/data/alerts/official_data_en.csv]

`tryvoha serve` loads it into an empty log on first start, so no checkout of the shared data is
needed at run time. The output is byte-for-byte reproducible (fixed gzip mtime).
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "alerts" / "official_data_en.csv"
TARGET = ROOT / "src" / "tryvoha" / "history" / "data" / "official_data_en.csv.gz"


def main(source: Path = DEFAULT_SOURCE) -> None:
    raw = source.read_bytes()
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with (
        TARGET.open("wb") as out,
        gzip.GzipFile(
            filename="official_data_en.csv", mode="wb", fileobj=out, compresslevel=9, mtime=0
        ) as gz,
    ):
        gz.write(raw)
    digest = hashlib.sha256(raw).hexdigest()
    rows = raw.count(b"\n") - 1
    print(
        f"{TARGET.relative_to(ROOT)}: {rows} rows, {TARGET.stat().st_size} bytes, sha256 {digest}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
