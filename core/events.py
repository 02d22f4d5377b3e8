"""The event model shared by minion, master, correlator, notify and timeline.

An event is one thing that happened on a node. It gets its sequence number (`seq`) on the node, the moment
the minion accepts it; (minion, seq) is its identity everywhere after that. Times are integer nanoseconds
since the epoch, UTC: `node_ns` from the node's clock, `master_ns` from the master's on receipt.

Kinds and their tags (tags are what `hamaster events --tag GLOB` and reactor rules match):

    vrrp     vrrp/<instance>/<STATE>         a keepalived transition (hook, fifo or reconcile)
    beacon   beacon/<name>/<value>            a watched fact changed: vip held/lost, keepalived/nginx up/down, probe
    minion   minion/<what>                    the minion itself: start, stop, reconnect
    job      job/<jid>/<what>                 a state run on the node (planned changes)
"""

from dataclasses import dataclass, field
from typing import Any

VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
VRRP_TYPES = ("INSTANCE", "GROUP")
KINDS = ("vrrp", "beacon", "minion", "job")
SOURCES = ("hook", "fifo", "reconcile", "beacon", "minion", "probe", "job")


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    node_ns: int
    kind: str
    tag: str
    instance: str | None = None
    state: str | None = None
    priority: int | None = None
    source: str = "hook"
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "node_ns": self.node_ns,
            "kind": self.kind,
            "tag": self.tag,
            "instance": self.instance,
            "state": self.state,
            "priority": self.priority,
            "source": self.source,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the master keeps it: the node's event plus who sent it and when it arrived."""

    id: int
    minion: str
    master_ns: int
    event: Event

    @property
    def late(self) -> bool:
        """Arrived more than 5 s after it happened (for example from a spool after an outage)."""
        return self.master_ns - self.event.node_ns > 5_000_000_000


def vrrp_tag(instance: str, state: str) -> str:
    return f"vrrp/{instance}/{state}"
