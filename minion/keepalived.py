"""What the minion can learn about keepalived and nginx on its own node, without trusting any event.

- `keepalived_pid()`: the parent keepalived of *this* network namespace (pid file, or a /proc scan that
  compares network namespaces: in the lab, every node's keepalived is visible in the one /proc).
- `wait_for_exit()`: block on a pidfd until that keepalived dies (the kernel tells us, no polling), for the
  beacon that reports a crash at once: kill -9 sends no STOP notify, so nothing else would say it.
- `versions()`: keepalived and nginx versions, for the grains.
- `local_addresses()` / `interface_addresses()` / `held_vips()` / `vip_interfaces()`: what `ip -j addr`
  says the interfaces hold.
- `dump_state()`: keepalived's own account of its instances, for reconciliation after a missed event.

How the dump works: keepalived writes `keepalived.json` into *its* $TMPDIR (default /tmp) when it gets the
signal that `keepalived --signum=JSON` names (36 on Debian 12's 2.2.7); the VRRP child writes it from its event
loop, between transitions, so the file is keepalived's state at the moment it was written (its mtime). We read
TMPDIR from /proc/<pid>/environ and open the file through /proc/<pid>/root (right even under systemd's
PrivateTmp). The file holds no pid, so a dump is believed only when `take_dump` can vouch for it:

- its folder is this keepalived's alone: two keepalived sharing a TMPDIR (containers or network namespaces
  without their own /tmp) overwrite each other's file, and one node would read the other's states;
- it was written after our signal (mtime against the coarse clock the kernel stamps files with) and parses;
- the keepalived signalled is still the same process (pid and start time) when we have read it;
- its instances are the ones this keepalived's config has (name, virtual_router_id, priority).

Otherwise `UntrustedDump` says why (`reason` is what the minion counts). Whether the dump is newer than the
transitions it would correct is the spool's question: the dump carries its time (`written_ns`).
The dump holds `auth_data` (the VRRP password): only state, priorities, VIPs and a few plain fields leave here.
"""

import functools
import json
import os
import re
import select
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hamaster.core import keepalived_conf
from hamaster.core.errors import StateError

# keepalived's vrrp.h numbering of instance states
_STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT", 97: "DELETED", 98: "STOP"}
DUMP_NAME = "keepalived.json"
DEFAULT_CONF = "/etc/keepalived/keepalived.conf"
# the clock file times are stamped with (CLOCK_REALTIME_COARSE, up to one tick behind time.time_ns())
_FILE_CLOCK = getattr(time, "CLOCK_REALTIME_COARSE", 5)


@dataclass(frozen=True, slots=True)
class InstanceState:
    state: str  # MASTER, BACKUP, FAULT, INIT, STOP
    priority: int  # effective: base priority moved by tracked scripts' weights
    base_priority: int
    vips: list[str]  # bare addresses, e.g. "10.0.0.100"
    interface: str
    vrid: int
    last_transition_ns: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- processes ------------------------------------------------------------------------------------------
def _netns_inode(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _comm(pid: int | str) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _ppid(pid: int | str) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


# a keepalived run as a command, not as the daemon: `keepalived --version` (our grains), `-t` (a config check)
_NOT_THE_DAEMON = ("-v", "--version", "-t", "--config-test", "-h", "--help")


def _is_command(pid: int | str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    return any(a.decode(errors="replace") in _NOT_THE_DAEMON or a.startswith((b"--signum", b"--config-test="))
               for a in argv[1:])


def keepalived_pid(pid_file: str | Path | None = None) -> int | None:
    """The parent keepalived of this node, or None if it does not run here (a `keepalived --version` or
    `keepalived -t` that runs for a moment is not keepalived running)."""
    if pid_file is not None:
        try:
            pid = int(Path(pid_file).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _comm(pid) == "keepalived" else None
    ours = _netns_inode("self")
    for entry in os.scandir("/proc"):
        name = entry.name
        if not name.isdigit() or _comm(name) != "keepalived" or _netns_inode(name) != ours:
            continue
        if _comm(_ppid(name)) != "keepalived" and not _is_command(name):  # the parent, not its VRRP or checker
            return int(name)
    return None


VRRP_PROTO = "0070"  # IP protocol 112, as /proc/net/raw writes it (hex, after the address)


def vrrp_child(parent: int) -> int | None:
    """keepalived's VRRP process, the child of `parent` that holds a raw socket for VRRP (the checker and
    BFD children hold none); None while it is not (re)spawned."""
    inodes: set[str] = set()
    for table in ("raw", "raw6"):
        try:
            lines = Path(f"/proc/{parent}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        inodes.update(f[9] for f in (line.split() for line in lines) if len(f) > 9 and f[1].endswith(f":{VRRP_PROTO}"))
    if not inodes:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or _ppid(entry.name) != parent or _comm(entry.name) != "keepalived":
            continue
        try:
            fds = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{entry.name}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return int(entry.name)
    return None


def open_pidfd(pid: int) -> int | None:
    """A pidfd for `pid` (readable once it has exited), or None if it is already gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_for_exit(pidfd: int, timeout: float) -> bool:
    """True once the process behind `pidfd` has exited (within `timeout` s), False if it still runs."""
    return first_exited([pidfd], timeout) is not None


def first_exited(pidfds: list[int], timeout: float) -> int | None:
    """The first of `pidfds` whose process has exited within `timeout` s (in the list's order), or None."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    ready = {fd for fd, _ in poller.poll(max(0, int(timeout * 1000)))}
    return next((fd for fd in pidfds if fd in ready), None)


# -- versions and addresses -----------------------------------------------------------------------------
def _first_match(argv: list[str], pattern: str) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(pattern, proc.stdout + proc.stderr)
    return m.group(1) if m else None


def versions() -> dict[str, str | None]:
    """{"keepalived": "2.2.7", "nginx": "1.22.1"}, None for what is not installed."""
    return {"keepalived": _first_match(["keepalived", "--version"], r"Keepalived v(\S+)"),
            "nginx": _first_match(["nginx", "-v"], r"nginx/(\S+)")}


def _links() -> list[dict[str, Any]]:
    """`ip -j addr show` of this namespace: each interface with its addr_info."""
    proc = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=5, check=True)
    return list(json.loads(proc.stdout))


def local_addresses() -> dict[str, list[str]]:
    """{interface: [address, ...]} of this namespace (IPv4 and IPv6, without prefix lengths)."""
    return {link["ifname"]: [a["local"] for a in link.get("addr_info", [])] for link in _links()}


def interface_addresses() -> dict[str, list[str]]:
    """{interface: ["10.99.0.11/24", ...]} of this namespace, primary addresses first (secondaries left out),
    as `keepalived_conf.wire_network` takes them."""
    return {link["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                             if not a.get("secondary") and "local" in a and "prefixlen" in a]
            for link in _links()}


def held_vips(vips: Iterable[str]) -> set[str]:
    """Which of `vips` (bare or with /prefix) an interface of this node holds."""
    return set(vip_interfaces(vips))


def vip_interfaces(vips: Iterable[str]) -> dict[str, str]:
    """{vip: interface} for each of `vips` (bare or with /prefix) that an interface of this node holds."""
    wanted = {v.split("/")[0] for v in vips}
    return {a: ifname for ifname, addrs in local_addresses().items() for a in addrs if a in wanted}


# -- keepalived's own state -----------------------------------------------------------------------------
class UntrustedDump(StateError):
    """A dump was found but cannot be vouched for as this keepalived's current one; `reason` is a short key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Dump:
    pid: int  # the keepalived signalled
    path: Path
    signalled_ns: int
    written_ns: int  # the file's mtime: keepalived's states held at this moment
    instances: dict[str, InstanceState]


@functools.cache
def json_signal() -> int:
    """The signal number keepalived dumps JSON on (it varies with the build: ask the binary)."""
    sig = _first_match(["keepalived", "--signum=JSON"], r"(\d+)")
    if sig is None:
        raise StateError("keepalived --signum=JSON gave no number: keepalived missing or built without JSON")
    return int(sig)


def tmpdir(pid: int) -> Path:
    """keepalived `pid`'s TMPDIR, seen through its own root."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError as exc:
        raise StateError(f"keepalived pid {pid}: cannot read its environment ({exc.strerror})") from exc
    folder = next((e[7:].decode() for e in environ if e.startswith(b"TMPDIR=")), "") or "/tmp"
    return Path(f"/proc/{pid}/root") / folder.lstrip("/")


def dump_path(pid: int) -> Path:
    """Where keepalived `pid` writes keepalived.json."""
    return tmpdir(pid) / DUMP_NAME


def keepalived_parents() -> list[int]:
    """Every parent keepalived this host's /proc shows, in any network namespace."""
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _comm(e.name) == "keepalived"
            and _comm(_ppid(e.name)) != "keepalived"]


def sharing_tmpdir(pid: int) -> list[int]:
    """The other keepalived whose TMPDIR is the same folder as `pid`'s (their dumps overwrite each other)."""
    def folder(p: int) -> tuple[int, int] | None:
        try:
            st = tmpdir(p).stat()
        except (OSError, StateError):
            return None
        return st.st_dev, st.st_ino
    ours = folder(pid)
    return [] if ours is None else [p for p in keepalived_parents() if p != pid and folder(p) == ours]


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def config_path(pid: int) -> Path:
    """The keepalived.conf that keepalived `pid` runs with (-f / --use-file), seen through its root."""
    try:
        argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError as exc:
        raise StateError(f"keepalived pid {pid}: cannot read its command line ({exc.strerror})") from exc
    conf = DEFAULT_CONF
    for i, arg in enumerate(argv):
        if arg in ("-f", "--use-file") and i + 1 < len(argv):
            conf = argv[i + 1]
        elif arg.startswith("--use-file="):
            conf = arg.split("=", 1)[1]
    return Path(f"/proc/{pid}/root") / conf.lstrip("/")


def configured_instances(text: str, root: Path = Path("/"),
                         here: str = "/etc/keepalived") -> dict[str, tuple[int, int]]:
    """{instance: (virtual_router_id, priority)} of a keepalived.conf whose folder is `here`, `include` files
    followed (relative ones from `here`), every path seen under `root` (a process's /proc/<pid>/root)."""
    conf = keepalived_conf.parse(text, root=root, here=here)
    return {name: (-1 if i.vrid is None else i.vrid, i.priority) for name, i in conf.instances.items()}


def parse_dump(raw: list[dict[str, Any]]) -> dict[str, InstanceState]:
    """keepalived.json's list of instances -> {instance: InstanceState}; auth data is not copied."""
    out = {}
    for entry in raw:
        d = entry["data"]
        out[d["iname"]] = InstanceState(
            state=_STATES.get(d["state"], f"UNKNOWN({d['state']})"),
            priority=int(d["effective_priority"]),
            base_priority=int(d["base_priority"]),
            vips=[v.split()[0].split("/")[0] for v in d.get("vips", [])],
            interface=d.get("ifp_ifname", ""),
            vrid=int(d["vrid"]),
            last_transition_ns=int(float(d.get("last_transition", 0)) * 1e9),
        )
    return out


def _check_instances(pid: int, found: dict[str, InstanceState]) -> None:
    conf = config_path(pid)
    try:
        root = Path(f"/proc/{pid}/root")
        wanted = configured_instances(conf.read_text(errors="replace"), root, "/" + str(conf.parent.relative_to(root)))
    except OSError as exc:
        raise UntrustedDump("config_unreadable", f"{conf}: cannot read it to check the dump ({exc.strerror})") \
            from exc
    have = {name: (st.vrid, st.base_priority) for name, st in found.items()}
    if have != wanted:
        raise UntrustedDump("instances_differ", f"the dump's instances {have} are not keepalived pid {pid}'s"
                            f" config's {wanted} ({conf}): another keepalived's dump, or a config not loaded yet")


def take_dump(pid: int | None = None, timeout: float = 3.0) -> Dump:
    """Signal this node's keepalived (or `pid`) and read the dump it writes, vouched for as described above.
    StateError if keepalived cannot say; UntrustedDump if what was found may not be its own current state."""
    pid = pid if pid is not None else keepalived_pid()
    if pid is None:
        raise StateError("keepalived is not running in this network namespace")
    others = sharing_tmpdir(pid)
    if others:
        raise UntrustedDump("shared_tmpdir", f"keepalived pid {pid} shares its TMPDIR ({tmpdir(pid)}) with keepalived"
                            f" pid {', '.join(map(str, others))}: their dumps overwrite each other; give each"
                            " keepalived a private TMPDIR")
    path, started = dump_path(pid), _start_time(pid)
    signalled_ns = time.clock_gettime_ns(_FILE_CLOCK)
    os.kill(pid, json_signal())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        written_ns = _mtime(path)
        if written_ns is not None and written_ns >= signalled_ns:
            try:
                raw = json.loads(path.read_text())
            except ValueError:
                raw = None  # still being written
            except OSError as exc:
                raise StateError(f"{path}: {exc.strerror}") from exc
            if raw is not None and _mtime(path) == written_ns:  # not rewritten while we read it
                try:
                    instances = parse_dump(raw)
                except (KeyError, TypeError, ValueError) as exc:
                    raise StateError(f"{path}: not keepalived's dump format ({exc!r} missing or wrong)") from exc
                if _start_time(pid) != started or _comm(pid) != "keepalived":
                    raise UntrustedDump("process_changed", f"keepalived pid {pid} ended or was replaced while"
                                        " it dumped its state")
                _check_instances(pid, instances)
                return Dump(pid, path, signalled_ns, written_ns, instances)
        time.sleep(0.01)
    raise StateError(f"keepalived pid {pid} wrote no state dump to {path} within {timeout:.0f} s")


def dump_state(pid: int | None = None, timeout: float = 3.0) -> dict[str, InstanceState]:
    """Ask keepalived (this node's, or `pid`) for its instances' states; StateError if it cannot say."""
    return take_dump(pid, timeout).instances


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
