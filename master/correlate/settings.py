"""`correlator:` in master.yaml: how VRRP groups are formed and when their changes become incidents."""

from dataclasses import dataclass, field
from typing import Any

from hamaster.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Settings:
    group_by: str = "instance"
    # longer than VRRP's own takeover when the holder dies (3 x advert_int + skew: 3.6 s at advert_int 1), so a
    # failover that completes normally is one failover alert, not "no master" + "recovered" + "failover"
    no_master_after_s: float = 5.0
    split_brain_after_s: float = 1.0
    # a VIP still on a BACKUP or FAULT node this long after the transition is stale (keepalived removes its
    # VIPs as it leaves MASTER; the minion's VIP beacon looks every beacons.interval): a dead keepalived's VIP
    # is stale at once
    stale_vip_after_s: float = 2.0
    flapping_transitions: int = 6  # more than this many state changes ...
    flapping_window_s: float = 10.0  # ... within this window is flapping
    planned_grace_s: float = 15.0  # transitions this long after an apply job ended still count as planned
    replay_quiet_s: float = 300.0  # incidents older than this found on replay are not alerted
    # a transition this much older than its group's newest one is stored but re-decides nothing; the group
    # keeps this much history (in node time) to place later arrivals
    late_window_s: float = 600.0
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)  # VI_1: {vip: .., router_id: ..}

    @classmethod
    def load(cls, raw: dict[str, Any], where: str = "master.yaml") -> "Settings":
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in cls.__dataclass_fields__:
                raise ConfigError(f"{where}: correlator.{name}: unknown field")
            default = cls.__dataclass_fields__[name].default
            want = dict if name == "instances" else type(default)
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, want) or isinstance(value, bool):
                raise ConfigError(f"{where}: correlator.{name}: expected {want.__name__}, got {value!r}")
            out[name] = value
        if out.get("group_by", "instance") not in ("instance", "vip", "router_id"):
            raise ConfigError(f"{where}: correlator.group_by: expected instance, vip or router_id")
        return cls(**out)
