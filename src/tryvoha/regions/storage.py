"""The package-data container: named numpy arrays in one gzip file, byte-for-byte reproducible.

`numpy.savez` stamps the current time into its zip entries, so rebuilding unchanged sources would
change the files; this format has no timestamps (gzip mtime 0) and a sorted JSON header.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np

_MAGIC = b"TRVA1"


def write_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write arrays (little-endian, C order) and optional JSON metadata to `path`."""
    header: dict = {"arrays": {}, "meta": meta or {}}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        blob = arr.tobytes()
        header["arrays"][name] = {
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "offset": offset,
            "nbytes": len(blob),
        }
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    raw = _MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs)
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `write_arrays`: (arrays, meta). Arrays are read-only views."""
    raw = gzip.decompress(Path(path).read_bytes())
    if not raw.startswith(_MAGIC):
        raise ValueError(f"{path} is not a tryvoha array file")
    (head_len,) = struct.unpack_from("<I", raw, len(_MAGIC))
    start = len(_MAGIC) + 4
    header = json.loads(raw[start : start + head_len])
    body = memoryview(raw)[start + head_len :]
    arrays = {}
    for name, spec in header["arrays"].items():
        chunk = body[spec["offset"] : spec["offset"] + spec["nbytes"]]
        arrays[name] = np.frombuffer(chunk, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
    return arrays, header["meta"]


def write_json_gz(path: Path, obj: object) -> None:
    """Write JSON deterministically (sorted keys, no timestamps)."""
    data = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)


def read_json_gz(path: Path) -> object:
    """Read a file written by `write_json_gz`."""
    return json.loads(gzip.decompress(Path(path).read_bytes()))
