"""The ground truth of a lab drill, from outside hamaster: a notify wrapper of the test's own that logs each
transition (real time, even under faketime) before it calls the hook, and `ip monitor address` in each node."""

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hamaster.lab.pillar import INSTANCE, ROUTER_ID
from hamaster.lab.site import HAMINION, LabSite

S = 10**9


def wrap_hooks(site: LabSite, log: Path) -> None:
    """Point each node's notify hook (pillar) at a wrapper that appends `NS NODE [faketime=OFFSET] ARGS...` to
    `log` first, then execs the hook (so the hook's start time in /proc is the wrapper's, keepalived's spawn)."""
    for node in site.lab.nodes:
        sls = site.pillar / f"{node.name}.sls"
        data = yaml.safe_load(sls.read_text())
        real = data["haminion"]["hook"]
        wrapper = site.root / f"truth-hook-{node.name}"
        # bash's own clock in its very first statement, without a fork (a `date` forked under load lags by
        # tens of ms); under faketime that clock is faked: the line says by how much ($FAKETIME, e.g. "+5s")
        # and notify_lines() takes it off
        wrapper.write_text('#!/bin/bash\nt=$EPOCHREALTIME\n'
                           f'echo "${{t/[.,]/}}000 {node.name} ${{FAKETIME:+faketime=$FAKETIME }}$*" >> {log}\n'
                           f'exec {real} "$@"\n')
        wrapper.chmod(0o755)
        data["haminion"]["hook"] = str(wrapper)
        sls.write_text(yaml.safe_dump(data, sort_keys=False))


_OFFSET = re.compile(r"faketime=([+-]?\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_NS = {"": S, "s": S, "m": 60 * S, "h": 3600 * S, "d": 86400 * S}


def faketime_offset_ns(word: str) -> int:
    """The offset of a `faketime=+5s` word (faketime's relative form); 0 for anything else."""
    m = _OFFSET.match(word)
    return round(float(m.group(1)) * _UNIT_NS[m.group(2)]) if m else 0


def notify_records(log: Path) -> list[tuple[int, str, str, int]]:
    """(ns, node, STATE, priority) of every line the wrappers logged, in real time (a faked clock's offset
    taken off)."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[-4] == "INSTANCE":  # NS NODE [faketime=..] -c CONFIG INSTANCE VI_1 STATE PRIO
            out.append((int(parts[0]) - faketime_offset_ns(parts[2]), parts[1], parts[-2], int(parts[-1])))
    return out


def notify_lines(log: Path) -> list[tuple[int, str, str]]:
    """(ns, node, STATE) of every line the wrappers logged, in real time."""
    return [(ns, node, state) for ns, node, state, _ in notify_records(log)]


def first_after(log: Path, node: str, state: str, after_ns: int) -> int | None:
    return next((ns for ns, n, s in notify_lines(log) if n == node and s == state and ns >= after_ns), None)


_LINK = re.compile(r"^\[([^\]]+)\] \d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>")


class AddressMonitor:
    """`ip -ts monitor link address` inside a node: when the VIP came and went, and when eth0 went down (a
    power-off's first act), as the kernel says."""

    def __init__(self, site: LabSite, node: str, path: Path) -> None:
        self.path = path
        argv = ["ip", "netns", "exec", site.lab.node(node).netns, "ip", "-ts", "-o", "monitor", "link", "address"]
        self.proc = subprocess.Popen(argv, stdout=path.open("w"), stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)

    def events(self, vip: str) -> list[tuple[float, str]]:
        """(unix time, "added"|"deleted") for `vip`."""
        out = []
        for line in self.path.read_text().splitlines():
            if f" {vip}/" not in line or not line.startswith("["):
                continue
            stamp = line[1:line.index("]")]  # local time, to the microsecond
            t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").astimezone().timestamp()
            out.append((t, "deleted" if line[line.index("]") + 1:].lstrip().startswith("Deleted") else "added"))
        return out

    def link_downs(self, dev: str = "eth0") -> list[float]:
        """Unix times at which `dev` was set down (its flags lose UP)."""
        out = []
        for line in self.path.read_text().splitlines():
            m = _LINK.match(line)
            if m and m.group(2) == dev and "UP" not in m.group(3).split(","):
                out.append(datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").astimezone().timestamp())
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def have_faketime() -> bool:
    return shutil.which("faketime") is not None


def fast_clock(site: LabSite, node: str, ahead: str = "+5s") -> None:
    """Run `node`'s minion under faketime; keepalived inherits it (the minion starts it when it applies)."""
    proc = site.minion_procs.pop(node)
    site.lab.stop(proc)
    site.minion_procs[node] = site.lab.spawn(
        node, ["faketime", "-f", ahead, HAMINION, "run", "-c", str(site.minion_config(node))],
        site.root / f"minion-{node}.log")  # (FAKETIME_DONT_FAKE_MONOTONIC=1 breaks Python's time.sleep: EINVAL)


def incidents_since(site: LabSite, start: int, kind: str) -> list[dict[str, Any]]:
    return [i for i in site.incidents(kind) if i["started_ns"] >= start]


def deliveries(site: LabSite, incident_id: int) -> list[tuple[str, str, str | None]]:
    return site.query("SELECT route, status, last_error FROM deliveries WHERE incident_id = ?", incident_id)


def chat_after(site: LabSite, start: int) -> list[str]:
    """The chat titles since `start`, a failover's without its gap (" in 3.4 s": it differs every run)."""
    return [re.sub(r" in \d[^()]*?(?= \(|$)", "", m.title) for m in site.chat.received() if m.at_ns >= start]


def group(site: LabSite) -> str:
    """How the lab's VRRP group is named in alerts: the VIP, instance and VRID its minions report."""
    return f"VIP {site.lab.vip} ({INSTANCE}, VRID {ROUTER_ID})"
