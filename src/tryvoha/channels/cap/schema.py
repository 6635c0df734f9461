"""Validation against the OASIS CAP 1.2 schema shipped with the package
(`data/CAP-v1.2.xsd`, copied by scripts/build_cap_schema.py)."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from lxml import etree

XSD = Path(__file__).with_name("data") / "CAP-v1.2.xsd"
_lock = threading.Lock()


class InvalidCap(ValueError):
    """A document the CAP 1.2 schema refuses; the message lists the schema's complaints."""


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def validate(root: etree._Element) -> None:
    """Raise `InvalidCap` unless `root` is a valid CAP 1.2 `<alert>`."""
    schema = _schema()
    with _lock:  # one libxml2 validation context: not shared between threads at once
        ok = schema.validate(root)
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log] if not ok else []
    if errors:
        raise InvalidCap("; ".join(errors[:5]))
