"""What this node's keepalived.conf says of its VRRP instances, reported when it changes.

The daemon looks every beacon interval (a few KB read and parsed: about a millisecond) and compares with what
it last reported. The first look and every change after it are one event, `minion/keepalived/config`, whose
data is `keepalived_conf.facts()` (instances with VRID, VIPs, interface, family, priority, peers, tracked
objects; sync groups; track files; never authentication) and the main file's sha256, so the master can tell
a hand edit from what `hamaster apply` wrote. A file that is not there (a node without keepalived yet) is
reported by nothing; one that cannot be read, once.

`describe` is what every vrrp event of a known instance carries into the spool (VRID, VIPs, interface,
family, network): the correlator groups and names VIPs by it without a round trip to the node. `network` is
`keepalived_conf.wire_network` of the instance with this node's addresses (`ip -j addr`, read when the config
is news: an address renumbered under an unchanged config is seen at the next edit or minion start).
"""

import copy
import hashlib
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hamaster.core import keepalived_conf
from hamaster.minion import keepalived
from hamaster.minion.spool import NewEvent

log = logging.getLogger("haminion.confwatch")

TAG = "minion/keepalived/config"
DESCRIBED = ("vrid", "vips", "interface", "family", "network")


class ConfigWatch:
    def __init__(self, path: Path, every: float,
                 addresses: Callable[[], dict[str, list[str]]] = keepalived.interface_addresses) -> None:
        self.path, self.every, self.addresses = path, every, addresses
        self.last_look = -1e9
        self.signature: tuple[int, int, int] | None = None  # the main file's (mtime, size, inode) when read
        self.reported: Any = None  # the facts (or the error) last reported
        self.describe: dict[str, dict[str, Any]] = {}  # instance -> DESCRIBED fields
        self.vip_instance: dict[str, str] = {}  # VIP -> its instance

    def poll(self, now: float, hurry: bool = False) -> NewEvent | None:
        """An event when the config differs from what was last reported: looked at every `every` s, and at
        once when `hurry` (a transition: `hamaster apply` may have written the config and started keepalived a
        moment ago) if the main file changed since it was read."""
        if hurry:
            if self._signature() == self.signature:
                return None
        elif now - self.last_look < self.every:
            return None
        self.last_look, self.signature = now, self._signature()
        try:
            conf, raw = keepalived_conf.read(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            error = f"cannot read {self.path}: {exc.strerror}"
            if self.reported == error:
                return None
            self.reported = error
            log.warning("%s: VRIDs and VIPs of its instances are unknown", error)
            return NewEvent(time.time_ns(), "minion", TAG, state="unreadable", source="minion",
                            data={"path": str(self.path), "error": error})
        facts, sha256 = keepalived_conf.facts(conf), hashlib.sha256(raw).hexdigest()
        if (facts, sha256) == self.reported:  # any edit is news: drift is told by the sha256 (`hamaster check`)
            return None
        self.reported = (copy.deepcopy(facts), sha256)  # (compared without the networks added below)
        networks = self._networks(conf)
        for name, network in networks.items():
            facts["instances"][name]["network"] = network
        self.describe = {name: {k: inst[k] for k in DESCRIBED if inst[k] not in (None, [], "")}
                         for name, inst in facts["instances"].items()}
        self.vip_instance = {vip: name for name, inst in conf.instances.items() for vip in inst.vips}
        log.info("%s: %d instance(s) %s", self.path, len(conf.instances),
                 ", ".join(f"{n} (vrid {i.vrid}, {' '.join(i.vips) or 'no VIP'})" for n, i in conf.instances.items()))
        return NewEvent(time.time_ns(), "minion", TAG, state="read", source="minion",
                        data={"path": str(self.path), "sha256": sha256, **facts})

    def _networks(self, conf: keepalived_conf.KeepalivedConf) -> dict[str, str | None]:
        try:
            addresses = self.addresses()
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("cannot read this node's addresses (%s): its instances are grouped by VIPs", exc)
            addresses = {}
        return {name: keepalived_conf.wire_network(inst, addresses) for name, inst in conf.instances.items()}

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino
