"""The HTTP edge: the one protocol every hub process serves with, and what it may answer itself.

`Edge` is the registry a hub's app fills in: short cuts (polled views answered from pre-rendered
bytes as soon as the head is parsed, and streams handed to the broadcaster), the conditional-GET
policy of each path, and the limits every connection is held to. `EdgeProtocol` is the uvicorn
protocol that serves it; `tryvoha.serve.uvicorn_config` connects the two.
"""

from __future__ import annotations

from tryvoha.server.answers import Answer, json_error
from tryvoha.server.limits import Limits
from tryvoha.server.shortcuts import Edge, Head

__all__ = ["Answer", "Edge", "Head", "Limits", "json_error"]
