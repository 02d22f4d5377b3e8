"""A real HA pair (or N nodes) on one machine: network namespaces on a bridge, per-node /etc, processes by pid.

    with Lab.create(nodes=("node1", "node2")) as lab:
        lab.start_nginx("node1"); lab.start_keepalived("node1", conf_text)
        lab.run("node1", ["ip", "-br", "addr"])      # inside the node
        ... lab.vip, lab.bridge_addr, lab.nodes[0].etc

Layout, for a lab with subnet 10.x.y.0/24: the bridge holds .1 (the master listens there), node i has .(10+i)
on its eth0, the VIP is .100 and a second one (active-active labs) .101. With `ipv6=True` the lab also has a ULA
prefix of its own, fd6d:x:y::/64, numbered the same way (bridge ::1, node i ::(10+i), VIP ::100).
Each node has a run dir (pid files, logs, keepalived's TMPDIR) and its /etc overlay /etc/netns/<ns>/ holding
keepalived/ and nginx/ (a self-contained nginx.conf and the node's page).

Teardown (on close, on leaving the `with`, at interpreter exit and on SIGTERM) stops the processes the lab
started, then whatever is still alive inside its namespaces (their own children: scripts, nginx workers),
then deletes namespaces, bridge and /etc/netns dirs. `netns.clean_leftovers()` covers labs that died harder.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from hamaster.lab import netns as nl
from hamaster.lab import services
from hamaster.lab.netns import LabError, LabNames


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # the minion id
    netns: str
    addr: str
    etc: Path  # becomes /etc inside the node
    run: Path  # pid files, logs, keepalived's TMPDIR
    addr6: str | None = None  # its ULA address, in a lab with IPv6


NodeRef = Node | str


class Lab:
    def __init__(self, names: LabNames, workdir: Path, own_workdir: bool, ipv6: bool = False) -> None:
        self.names = names
        self.workdir = workdir
        self._own_workdir = own_workdir
        base = names.subnet.rsplit(".", 1)[0]
        self.prefixlen = 24
        self.bridge_addr = f"{base}.1"
        self.vip = f"{base}.100"
        self.vip2 = f"{base}.101"
        _, x, y = base.split(".")
        self.v6_prefix = f"fd6d:{int(x):x}:{int(y):x}::" if ipv6 else None  # the lab's own ULA /64
        self.bridge_addr6 = f"{self.v6_prefix}1" if self.v6_prefix else None
        self.vip6 = f"{self.v6_prefix}100" if self.v6_prefix else None
        self.nodes = [Node(name, names.netns(name), f"{base}.{10 + i}", names.etc(name), workdir / name,
                           f"{self.v6_prefix}{10 + i}" if self.v6_prefix else None)
                      for i, name in enumerate(names.nodes, start=1)]
        self._procs: list[subprocess.Popen[bytes]] = []
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------------------
    @classmethod
    def create(cls, nodes: Sequence[str] = ("node1", "node2"), *, workdir: Path | None = None,
               ipv6: bool = False) -> "Lab":
        """Build the network and per-node dirs (no daemon runs yet). `workdir` is kept after close if given;
        `ipv6`: the bridge and the nodes get addresses of the lab's ULA prefix too."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, keepalived)")
        bad = [n for n in nodes if not nl.valid_node_name(n)]
        if bad or not nodes or len(nodes) > 89 or len(set(nodes)) != len(nodes):
            raise LabError(f"node names must be 1..89 unique [A-Za-z0-9_-]{{1,32}}, got {list(nodes)}")
        lab_id = nl.new_id()
        names = LabNames(lab_id, tuple(nodes), nl.pick_subnet(), os.getpid(), nl.process_start_time(os.getpid()) or 0)
        names.save()  # before anything exists: a crash from here on leaves a record lab-clean can act on
        lab = cls(names, workdir or nl.RUN_ROOT / lab_id, own_workdir=workdir is None, ipv6=ipv6)
        _LIVE.add(lab)
        _install_handlers()
        try:
            lab._build()
        except BaseException:
            lab.close()
            raise
        return lab

    def _build(self) -> None:
        br = self.names.bridge
        nl.ip("link", "add", br, "type", "bridge")
        nl.ip("link", "set", br, "up")
        nl.ip("addr", "add", f"{self.bridge_addr}/{self.prefixlen}", "dev", br)
        if self.bridge_addr6:  # nodad: usable at once, not after a second of duplicate detection
            nl.ip("addr", "add", f"{self.bridge_addr6}/64", "dev", br, "nodad")
        for i, node in enumerate(self.nodes, start=1):
            veth = self.names.veth(i)
            nl.ip("netns", "add", node.netns)
            nl.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
            nl.ip("link", "set", veth, "master", br, "up")
            self._address(node)
            nl.ip("link", "set", "eth0", "up", netns=node.netns)
            nl.ip("link", "set", "lo", "up", netns=node.netns)
            node.run.mkdir(parents=True, exist_ok=True)
            (node.etc / "keepalived").mkdir(parents=True, exist_ok=True)
            (node.etc / "nginx" / "html").mkdir(parents=True, exist_ok=True)
            (node.etc / "nginx" / "nginx.conf").write_text(services.nginx_conf(node.run))
            (node.etc / "nginx" / "html" / "index.html").write_text(services.node_page(node.name, node.addr))

    def close(self) -> None:
        """Tear everything down; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            for proc in reversed(self._procs):
                self.stop(proc)
            nl.teardown(self.names)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            _LIVE.discard(self)

    def keep(self) -> None:
        """Leave the lab running after this process ends (`hamaster demo --keep`); lab-clean removes it later."""
        self._closed = True
        self._procs.clear()
        _LIVE.discard(self)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- processes in a node ---------------------------------------------------------------------------
    def node(self, ref: NodeRef) -> Node:
        if isinstance(ref, Node):
            return ref
        for node in self.nodes:
            if node.name == ref:
                return node
        raise LabError(f"no node {ref!r} in lab {self.names.id} (nodes: {', '.join(self.names.nodes)})")

    def env(self, ref: NodeRef, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        node = self.node(ref)
        return {**os.environ, "HAMASTER_NODE": node.name, "HAMASTER_RUN_DIR": str(node.run), **(extra or {})}

    def run(self, ref: NodeRef, argv: Sequence[str], *, check: bool = False, timeout: float = 10.0,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        node = self.node(ref)
        try:
            proc = subprocess.run(nl.exec_argv(node.netns, argv), capture_output=True, text=True,
                                  timeout=timeout, env=self.env(node, env))
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{node.name}: {' '.join(argv)}: no answer after {timeout:.0f} s") from exc
        if check and proc.returncode != 0:
            raise LabError(f"{node.name}: {' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
        return proc

    def spawn(self, ref: NodeRef, argv: Sequence[str], log_path: Path | None = None,
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running process in the node, tracked: close() stops it."""
        node = self.node(ref)
        log_path = log_path or node.run / f"{Path(argv[0]).name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(nl.exec_argv(node.netns, argv), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=self.env(node, env), start_new_session=True)
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
        """SIGTERM a process this lab started, SIGKILL after `timeout` s; returns its exit status."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode

    # -- keepalived and nginx --------------------------------------------------------------------------
    def start_keepalived(self, ref: NodeRef, conf: str | None = None) -> None:
        """Start keepalived in the node, first writing `conf` as its /etc/keepalived/keepalived.conf if given."""
        node = self.node(ref)
        if conf is not None:
            (node.etc / "keepalived" / "keepalived.conf").write_text(conf)
        self._track(services.start(services.KEEPALIVED, node.run, netns=node.netns))

    def stop_keepalived(self, ref: NodeRef) -> bool:
        """A clean stop: keepalived sends priority 0 and drops the VIP, the backup takes over at once."""
        return services.stop(services.KEEPALIVED, self.node(ref).run)

    def kill_keepalived(self, ref: NodeRef) -> bool:
        """SIGKILL keepalived and its children, as a crash would: no goodbye, the VIP stays on the interface."""
        node = self.node(ref)
        pid = services.pid_of(services.KEEPALIVED, node.run)
        if pid is None:
            return False
        os.killpg(pid, signal.SIGKILL)  # started with its own session: the group is keepalived and its children
        deadline = time.monotonic() + 5
        while nl.process_start_time(pid) is not None and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        return True

    def start_nginx(self, ref: NodeRef) -> None:
        node = self.node(ref)
        self._track(services.start(services.NGINX, node.run, netns=node.netns))

    def stop_nginx(self, ref: NodeRef) -> bool:
        return services.stop(services.NGINX, self.node(ref).run)

    def _track(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None:
            self._procs.append(proc)

    def _reap(self) -> None:
        for proc in self._procs:
            proc.poll()

    # -- faults ----------------------------------------------------------------------------------------
    def power_off(self, ref: NodeRef) -> None:
        """The seed's "shut the master down": every process of the node dies at once and its cable goes dark."""
        node = self.node(ref)
        nl.ip("link", "set", "eth0", "down", netns=node.netns)
        for pid in nl.netns_pids(node.netns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while nl.netns_pids(node.netns) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        self._reap()

    def power_on(self, ref: NodeRef) -> None:
        """Boot the node again: the cable is back, the addresses are what a fresh boot gives (no VIP), and the
        daemons' pid files are gone (keepalived refuses to start while one names a live process, and a pid
        is soon another process's)."""
        node = self.node(ref)
        for pid_file in node.run.glob("*.pid"):  # /run starts empty on a boot: no pid of a process long gone
            pid_file.unlink(missing_ok=True)
        nl.ip("addr", "flush", "dev", "eth0", netns=node.netns)
        self._address(node)
        nl.ip("link", "set", "eth0", "up", netns=node.netns)  # the kernel gives eth0 its link-local address again

    def _address(self, node: Node) -> None:
        nl.ip("addr", "add", f"{node.addr}/{self.prefixlen}", "dev", "eth0", netns=node.netns)
        if node.addr6:
            nl.ip("addr", "add", f"{node.addr6}/64", "dev", "eth0", "nodad", netns=node.netns)

    def block_vrrp(self, ref: NodeRef) -> None:
        """Split brain on demand: the node stops hearing VRRP (IP protocol 112), so it claims the VIP too."""
        node, table = self.node(ref), self.names.nft_table
        script = (f"table inet {table} {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n"
                  f"  ip protocol vrrp drop\n }}\n}}\n")
        nl.run(nl.exec_argv(node.netns, ["nft", "-f", "-"]), input=script)

    def unblock_vrrp(self, ref: NodeRef) -> None:
        node = self.node(ref)
        nl.run(nl.exec_argv(node.netns, ["nft", "delete", "table", "inet", self.names.nft_table]), check=False)

    def drop_multicast_vrrp(self, ref: NodeRef) -> None:
        """A cloud's network: VRRP's multicast groups (224.0.0.18, ff02::12) dropped both ways in the node, so
        only unicast peers hear each other."""
        node, table = self.node(ref), f"{self.names.nft_table}_mc"
        chains = "".join(f" chain {hook} {{\n  type filter hook {hook} priority 0; policy accept;\n"
                         f"  ip daddr 224.0.0.18 drop\n  ip6 daddr ff02::12 drop\n }}\n"
                         for hook in ("input", "output"))
        script = f"table inet {table} {{\n{chains}}}\n"
        nl.run(nl.exec_argv(node.netns, ["nft", "-f", "-"]), input=script)

    # -- facts ------------------------------------------------------------------------------------------
    def holds_vip(self, ref: NodeRef, vip: str | None = None) -> bool:
        vip = vip or self.vip
        family = "-6" if ":" in vip else "-4"
        out = self.run(ref, ["ip", "-o", family, "addr", "show", "dev", "eth0"], check=True).stdout
        return f" {vip}/" in out

    def holders(self, vip: str | None = None) -> list[str]:
        return [n.name for n in self.nodes if self.holds_vip(n, vip)]


Pair = Lab  # the name the first callers used; a pair is a two-node lab


# -- teardown on exit and on SIGTERM (SIGINT already raises KeyboardInterrupt through the `with`) --------
_LIVE: set[Lab] = set()
_handlers_installed = False


def _close_all() -> None:
    for lab in list(_LIVE):
        lab.close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _close_all()
    sys.exit(128 + signum)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_close_all)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
