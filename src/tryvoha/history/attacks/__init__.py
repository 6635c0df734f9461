"""The attacks ledger: the Air Force tallies of drones and missiles, beside the alert record.

`source` reads the data set, `weapons` classifies its models, `importer` brings it into the
store, `ledger` answers lists and totals with their definitions, `waves` links an attack to the
alerts around it, `check` tests a quoted figure against every reading of the data.
"""
