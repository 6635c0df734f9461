"""Running tryvoha on several nodes: the writer's relay to NATS JetStream, the follower core
that edges and stream workers share, the edge node, and every node's health.

`tryvoha.bus.jetstream` holds the protocol (stream sequence = log id); this package wires it
into processes. docs/cluster.md is the operator's guide.
"""
