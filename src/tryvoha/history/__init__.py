"""Real alert history: importers of public data sets, replay of a past period, statistics.

Imported events carry a source other than "live" ("import:official", "import:volunteer"): they
are part of the one log, fold into the same state, and are never announced as happening now.
"""
