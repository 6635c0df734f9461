"""How committed events reach every consumer."""

from tryvoha.bus.memory import InProcessBus, Listener

__all__ = ["InProcessBus", "Listener"]
