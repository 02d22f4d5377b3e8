"""The site as the master knows it now, read once: what `drain`, `drill` and `check` decide on."""

import time
from dataclasses import dataclass, field
from typing import Any

from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError, StoreError
from hamaster.core.incidents import Incident
from hamaster.core.keepalived_conf import instance_facts
from hamaster.master import store
from hamaster.master.correlate.grouping import VrrpGroup, lone, site_groups
from hamaster.master.intake.probe import VipProbe
from hamaster.master.store import drills, events, incidents, minions

STANDING = ["stale_vip", "clock_offset"]  # open incidents `check` reports as they are


@dataclass
class Snapshot:
    vrrp: dict[str, dict[str, tuple[str, int | None, int]]]  # minion -> instance -> (state, priority, node_ns)
    online: dict[str, bool]  # from the running master's status; empty when it is down
    grains: dict[str, dict[str, Any]]
    drained: dict[str, drills.DrainMark]
    configs: dict[str, dict[str, Any]]  # minion -> its minion/keepalived/config data
    probes: list[tuple[str, tuple[str, ...]]]  # (vip, nodes) of master.yaml's probes
    status: dict[str, Any] = field(default_factory=dict)  # the master's whole status reply
    standing: list[Incident] = field(default_factory=list)  # open stale_vip and clock_offset incidents
    priorities: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # FIFO's live priorities
    correlator: Any = None  # master.yaml's `correlator:` (group_by, instances): how instances make groups
    _groups: list[VrrpGroup] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, cfg: MasterConfig, status: dict[str, Any] | None) -> "Snapshot":
        conn = store.connect(cfg.store, readonly=True)
        try:
            vrrp, grains = store.current_vrrp_states(conn), minions.grains(conn)
            configs, standing = drills.keepalived_configs(conn), incidents.still_open(conn, STANDING)
            priorities = events.priority_beacons(conn)
            try:
                drained = drills.drained_now(conn)
            except StoreError:  # a store from before drains: the first drain (or the master's start) makes it
                drained = {}
        finally:
            conn.close()
        live = (status or {}).get("minions", {})
        return cls(vrrp, {m: bool(v.get("online")) for m, v in live.items()}, grains, drained, configs,
                   [(p.vip, tuple(p.nodes or ())) for p in cfg.probes], status or {}, standing, priorities,
                   cfg.correlator)

    def minions(self) -> list[str]:
        return sorted(set(self.grains) | set(self.vrrp))

    def facts(self, minion: str, instance: str) -> dict[str, Any]:
        """The instance as the node's live keepalived.conf says (its minion/keepalived/config event)."""
        return instance_facts(self.configs.get(minion), instance)

    def groups(self) -> list[VrrpGroup]:
        """The site's VRRP groups (master/correlate/grouping.py: the wire's, by the correlator's settings)."""
        if self._groups is None:
            self._groups = site_groups({(m, i): self.facts(m, i) for m, insts in self.vrrp.items() for i in insts},
                                       self.correlator)
        return self._groups

    def group(self, which: "VrrpGroup | str") -> VrrpGroup:
        """A group, or the one a name names: its label, key, or an instance name only one group has.
        ConfigError naming the choices when the instance name is several groups'."""
        if isinstance(which, VrrpGroup):
            return which
        groups = self.groups()
        found = ([g for g in groups if g.label == which] or [g for g in groups if g.key == which]
                 or [g for g in groups if which in g.instances])
        if len(found) > 1:
            raise ConfigError(f"{which} is {len(found)} VRRP groups here: "
                              + "; ".join(repr(g.label) for g in found) + " (give one of these)")
        return found[0] if found else lone(which)

    def group_of(self, minion: str, instance: str) -> VrrpGroup:
        return next((g for g in self.groups() if (minion, instance) in g.members), lone(instance))

    def members(self, group: "VrrpGroup | str") -> list[str]:
        """The minions of the group (of the instance, when its name is one group's)."""
        return self.group(group).nodes

    def state_in(self, minion: str, group: VrrpGroup) -> str | None:
        """`minion`'s state in `group` (None: it runs none of the group's instances)."""
        instance = group.instance_of(minion)
        return None if instance is None else self.state(minion, instance)

    def state(self, minion: str, instance: str) -> str | None:
        return self.vrrp.get(minion, {}).get(instance, (None, None, 0))[0]

    def held_by(self, minion: str) -> list[str]:
        """The instances `minion` is MASTER of."""
        return sorted(i for i, (s, _, _) in self.vrrp.get(minion, {}).items() if s == "MASTER")

    def is_drained(self, minion: str) -> bool:
        mark = self.drained.get(minion)
        return bool(mark and mark.drained)

    def nopreempt(self, minion: str, instance: str) -> bool:
        """Whether the node's keepalived.conf (its config facts) gives the instance nopreempt."""
        return self.facts(minion, instance).get("nopreempt") is True

    def vips_of(self, minion: str, instance: str | None = None) -> list[str]:
        """The probed VIPs `minion` may serve (master.yaml's probes naming it); of `instance` only, when the
        minion's config facts say which VIPs the instance has."""
        probed = [vip for vip, nodes in self.probes if not nodes or minion in nodes]
        own = set(self.facts(minion, instance or "").get("vips") or ())
        return [v for v in probed if v in own] or probed  # no fact, or none probed: every probe naming it

    def addresses(self, minion: str) -> list[str]:
        """The node's own addresses (its grains), without the VIPs that float between nodes."""
        vips = {vip for vip, _ in self.probes}
        return [a for a in self.grains.get(minion, {}).get("addresses", []) if a not in vips and ":" not in a]

    def conf_path(self, minion: str) -> str:
        return str(self.configs.get(minion, {}).get("path") or "/etc/keepalived/keepalived.conf")


def serves_page(snap: Snapshot, minion: str, timeout: float = 1.0, tries: int = 3) -> bool | None:
    """Does the node's nginx answer its own page on one of its addresses? None: no address known."""
    addresses = snap.addresses(minion)
    if not addresses:
        return None
    nodes = snap.minions()
    for attempt in range(tries):  # a dropped SYN is not a dead nginx
        if any(VipProbe(addr, timeout=timeout, nodes=nodes).ask() == minion for addr in addresses):
            return True
        if attempt + 1 < tries:
            time.sleep(0.2)
    return False
