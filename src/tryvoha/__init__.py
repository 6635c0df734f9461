"""tryvoha: a self-hostable air-raid alert hub."""

__version__ = "0.1.0"
