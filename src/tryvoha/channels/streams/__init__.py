"""Live streams: Server-Sent Events and WebSocket fan-out of committed events, with resume by id.

One `Broadcaster` per process writes pre-encoded frames straight to every subscriber's transport,
coalescing whatever is pending into one write per subscriber; see docs/streams.md.
"""

from tryvoha.channels.streams.broadcaster import Broadcaster, StreamConfig
from tryvoha.channels.streams.spec import SpecError, StreamSpec, parse_spec

__all__ = ["Broadcaster", "SpecError", "StreamConfig", "StreamSpec", "parse_spec"]
