#!/usr/bin/env python3
"""Put the API page's viewer (Swagger UI) into the package, so `/docs` works with no internet.

    .venv/bin/python scripts/build_docs_assets.py          # → src/tryvoha/web/apidocs/
    .venv/bin/python scripts/build_docs_assets.py --tarball swagger-ui-dist-5.32.0.tgz

Takes the npm package `swagger-ui-dist` (fetched with `npm pack`, or a tarball already at hand),
and writes its bundle and stylesheet gzipped (deterministically, mtime 0) with its licence and a
note of the version and the digests. The page around them (`index.html`) and its start script
(`init.js`) are the project's own, beside them: no inline script, so the page's policy is
'self'. Rerun to move to another version; the hub serves whatever this wrote.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "swagger-ui-dist"
VERSION = "5.32.0"
OUT = Path(__file__).resolve().parents[1] / "src" / "tryvoha" / "web" / "apidocs"
FILES = {"swagger-ui-bundle.js": "swagger-ui-bundle.js.gz", "swagger-ui.css": "swagger-ui.css.gz"}


def fetch(version: str, folder: Path) -> Path:
    """`npm pack` downloads the package's tarball from the npm registry without installing."""
    done = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--silent"],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    return folder / done.stdout.strip().splitlines()[-1]


def build(tarball: Path, out: Path) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    note: dict[str, object] = {"package": PACKAGE, "files": {}}
    with tarfile.open(tarball) as archive:
        meta = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        note["version"] = meta["version"]
        for name, target in FILES.items():
            data = archive.extractfile(f"package/{name}").read()  # type: ignore[union-attr]
            (out / target).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
            note["files"][name] = hashlib.sha256(data).hexdigest()  # type: ignore[index]
        licence = archive.extractfile("package/LICENSE").read()  # type: ignore[union-attr]
        (out / "swagger-ui-LICENSE.txt").write_bytes(licence)
    (out / "swagger-ui.json").write_text(json.dumps(note, indent=2) + "\n")
    return note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version (npm)")
    parser.add_argument("--tarball", type=Path, help="a tarball from 'npm pack' to use instead")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tarball = args.tarball or fetch(args.version, Path(scratch))
        note = build(tarball, args.out)
    print(f"{PACKAGE} {note['version']} → {args.out}")


if __name__ == "__main__":
    main()
