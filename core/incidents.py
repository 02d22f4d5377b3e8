"""Incidents: what the correlator derives from raw transitions (stored by master/store/incidents.py).

Kinds and their default severity:

    failover      warning   holder A -> B; data: old_holder, new_holder, gap_ns, cause, old/new priority
    split_brain   critical  two or more MASTERs at once; ended_ns and data.duration_ns once it heals
    no_master     critical  no MASTER for longer than the threshold
    flapping      warning   more than N transitions in a window; data.transitions
    node_silent   warning   a minion's heartbeats stopped
    node_back     info      ... and resumed
    recovered     info      back to exactly one MASTER; data.closes = id of the incident it closes
    stale_vip     critical  a node holds a VIP it does not own (keepalived dead, BACKUP or FAULT): two hosts
                            answer ARP for it; data: node, vip, interface, reason; ended_ns when it is gone
    clock_offset  warning   a node's clock is more than 1 s off the master's; data: offset_ns, delay_ns
    sync_split    critical  a vrrp_sync_group's members held by different nodes (one left behind); data:
                            members, holders (member -> node); ended_ns when they are together again

An incident's identity is its `dedup_key`, built from what caused it (the (minion, seq) of the deciding
event, or the node and time for heartbeats), never from when it was derived: deriving it again after a
restart, from late events or on a second master finds the existing row instead of adding one.
"""

from dataclasses import dataclass, field
from typing import Any

KINDS = ("failover", "split_brain", "no_master", "flapping", "node_silent", "node_back", "recovered", "stale_vip",
         "clock_offset", "sync_split")
SEVERITIES = ("info", "warning", "critical")
SEVERITY = {"failover": "warning", "split_brain": "critical", "no_master": "critical", "flapping": "warning",
            "node_silent": "warning", "node_back": "info", "recovered": "info", "stale_vip": "critical",
            "clock_offset": "warning", "sync_split": "critical"}


@dataclass(slots=True)
class Incident:
    kind: str
    instance: str | None
    started_ns: int
    summary: str
    dedup_key: str
    nodes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    severity: str = ""
    ended_ns: int | None = None
    planned: bool = False
    job_id: str | None = None
    routed_ns: int | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.severity:
            self.severity = SEVERITY[self.kind]
