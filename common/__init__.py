"""hamaster: an event-driven orchestrator for keepalived + nginx HA pairs.

This root package holds only what both sides share: the error tree, the event model and the wire
protocol. It must stay cheap to import: the keepalived hook imports nothing from here but `timeutil`.
"""

__version__ = "0.1.0"
