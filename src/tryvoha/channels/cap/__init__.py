"""CAP 1.2: one signed message per event of the log, and Atom feeds of them (docs/cap.md)."""
