"""Network namespaces, a bridge and the bookkeeping that lets a crashed lab be cleaned up later.

Every lab has a short random id; all its kernel objects carry it, so labs never collide and leftovers are ours
beyond doubt:

    netns   hm-<id>-<node>        the node (its /etc is /etc/netns/hm-<id>-<node>/)
    bridge  hmb<id>               in the root namespace, holds the lab's <subnet>.1 (the master listens there)
    veth    hmv<id><i>            root-namespace end of node i's cable; the node's end is called eth0

Before it creates anything, a lab writes /run/hamaster-lab/<id>.json naming its owner process (pid and start
time). `clean_leftovers()` removes only labs whose owner is gone, and objects with our prefixes that no
record claims: a running lab of another test or another engineer is never touched.
"""

import ipaddress
import json
import os
import random
import shutil
import signal
import string
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hamaster.core.errors import HamasterError

RUN_ROOT = Path("/run/hamaster-lab")
NETNS_PREFIX, BRIDGE_PREFIX, VETH_PREFIX = "hm-", "hmb", "hmv"
ETC_NETNS = Path("/etc/netns")


class LabError(HamasterError):
    """The lab cannot be built or driven (missing tool, kernel refused, a daemon would not start)."""


@dataclass(frozen=True, slots=True)
class LabNames:
    """Every name one lab uses, derived from its id and node names (so a record on disk is enough to undo it)."""

    id: str
    nodes: tuple[str, ...]
    subnet: str  # "10.x.y.0/24"
    owner_pid: int
    owner_start: int  # /proc/<pid>/stat start time: a reused pid is not our owner

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.id}"

    def netns(self, node: str) -> str:
        return f"{NETNS_PREFIX}{self.id}-{node}"

    def veth(self, index: int) -> str:
        return f"{VETH_PREFIX}{self.id}{index}"

    def etc(self, node: str) -> Path:
        return ETC_NETNS / self.netns(node)

    @property
    def record(self) -> Path:
        return RUN_ROOT / f"{self.id}.json"

    @property
    def nft_table(self) -> str:
        return f"hm_{self.id}"

    def save(self) -> None:
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(self.record)

    @classmethod
    def load(cls, path: Path) -> "LabNames":
        data = json.loads(path.read_text())
        return cls(data["id"], tuple(data["nodes"]), data["subnet"], data["owner_pid"], data["owner_start"])


def new_id() -> str:
    # 6 characters keep "hmv" + id + node index within Linux's 15-character interface names
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=6))


def valid_node_name(name: str) -> bool:
    return bool(name) and len(name) <= 32 and all(c.isalnum() or c in "-_" for c in name)


# -- running ip, nft and friends ------------------------------------------------------------------------
def run(argv: Sequence[str], *, check: bool = True, input: str | None = None,
        timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=timeout)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed (the lab needs iproute2, nftables, keepalived, nginx)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer after {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """argv run inside `netns`, with /etc/netns/<netns>/* bound over /etc (that is what `ip netns exec` does)."""
    return ["ip", "netns", "exec", netns, *argv]


def list_netns() -> list[str]:
    out = ip("-j", "netns", "list", check=False).stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def list_links(prefix: str) -> list[str]:
    out = ip("-j", "link", "show").stdout
    return [link["ifname"] for link in json.loads(out) if link["ifname"].startswith(prefix)]


def netns_pids(netns: str) -> list[int]:
    out = ip("netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split()]


# -- addresses -----------------------------------------------------------------------------------------
def _networks_in_use() -> list[ipaddress.IPv4Network]:
    nets = []
    for link in json.loads(ip("-j", "-4", "addr", "show").stdout):
        for a in link.get("addr_info", []):
            nets.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in json.loads(ip("-j", "-4", "route", "show", "table", "all").stdout):
        dst = route.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            nets.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return nets


def pick_subnet(tries: int = 50) -> str:
    """A random 10.x.y.0/24 that overlaps no address or route of the root namespace."""
    used = _networks_in_use()
    for _ in range(tries):
        net = ipaddress.IPv4Network(f"10.{random.randint(64, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise LabError(f"no free 10.x.y.0/24 found in {tries} tries")


# -- owners and leftovers ------------------------------------------------------------------------------
def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    return None if fields[0] == "Z" else int(fields[19])


def owner_alive(names: LabNames) -> bool:
    return process_start_time(names.owner_pid) == names.owner_start


def kill_pids(pids: Iterable[int], timeout: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `timeout` s."""
    pids = list(pids)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if process_start_time(p) is not None]
        time.sleep(0.02)
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def teardown(names: LabNames) -> None:
    """Undo everything a lab's names cover; safe to call twice and on a half-built lab."""
    existing, links = set(list_netns()), set(list_links(VETH_PREFIX))
    for i, node in enumerate(names.nodes, start=1):
        if names.veth(i) in links:  # deleting our end now takes both; the kernel frees a netns's links lazily
            ip("link", "delete", names.veth(i), check=False)
        ns = names.netns(node)
        if ns in existing:
            # Only what lives in our own namespace: our daemons and whatever they forked (scripts, workers).
            kill_pids(netns_pids(ns))
            ip("netns", "delete", ns, check=False)
        shutil.rmtree(names.etc(node), ignore_errors=True)
    if names.bridge in list_links(BRIDGE_PREFIX):
        ip("link", "delete", names.bridge, check=False)
    names.record.unlink(missing_ok=True)


def clean_leftovers() -> list[str]:
    """Remove what crashed labs left behind; returns what was removed. Live labs are left alone."""
    removed: list[str] = []
    live: set[str] = set()
    for path in sorted(RUN_ROOT.glob("*.json")) if RUN_ROOT.is_dir() else []:
        try:
            names = LabNames.load(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
            continue
        if owner_alive(names):
            live.add(names.id)
            continue
        teardown(names)
        shutil.rmtree(RUN_ROOT / names.id, ignore_errors=True)
        removed.append(f"lab {names.id}")

    def unclaimed(name: str, prefix: str) -> bool:
        return name.startswith(prefix) and not any(name[len(prefix):].startswith(i) for i in live)

    for ns in list_netns():
        if unclaimed(ns, NETNS_PREFIX):
            kill_pids(netns_pids(ns))
            ip("netns", "delete", ns, check=False)
            removed.append(f"netns {ns}")
    for prefix in (VETH_PREFIX, BRIDGE_PREFIX):
        for link in list_links(prefix):
            if unclaimed(link, prefix):
                ip("link", "delete", link, check=False)
                removed.append(f"link {link}")
    for etc in ETC_NETNS.glob(f"{NETNS_PREFIX}*") if ETC_NETNS.is_dir() else []:
        if unclaimed(etc.name, NETNS_PREFIX):
            shutil.rmtree(etc, ignore_errors=True)
            removed.append(f"dir {etc}")
    return removed
