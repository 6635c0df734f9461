"""`python -m tryvoha.cli`: the `tryvoha` command, for a checkout without the script installed."""

from tryvoha.cli import app

app(prog_name="tryvoha")
