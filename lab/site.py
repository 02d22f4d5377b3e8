"""A whole hamaster site on a lab pair: what `hamaster demo`, the e2e tests and `bench/lab.py` drive.

    with LabSite.create() as site:          # lab + `hamaster init` + master + one minion inside each node
        site.apply()                          # the real `hamaster apply states/` with the lab's pillar
        site.wait_probe("node1")              # the master's VIP probe sees node1's page
        site.power_off("node1"); site.wait_probe("node2"); site.boot("node1")

The master runs in the root namespace and listens on the lab's bridge address; each minion runs inside its node
(so its /etc is the node's /etc/netns/<ns>/ and keepalived's notify hook finds it), and the state tree sets up
nginx and keepalived there through the lab's services CLI. Alerts go to a local mail server and a local chat
receiver. Everything is torn down on close, on an exception and on Ctrl-C; only processes started here are
stopped, by pid (the lab also ends what still runs in its namespaces).

`LabSite.create(topology="active-active")` builds another of the topologies operators run (lab/pillar.py:
"unicast", "cloud", "sync", "active-active" with three nodes, "nopreempt", "fast"); `site.topo`, `site.vips`
(instance -> VIP) and `site.masters` (instance -> who should hold it) describe it.

The site runs on exactly what `hamaster init` writes (heartbeats, silence, the correlator's and the beacons'
defaults): the lab only adds what a site must say for itself, its VIP probe and its alert targets. What the demo
and the tests show is what a user's site does.
"""

import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from hamaster.core.config import load_master_config
from hamaster.core.errors import HamasterError
from hamaster.core.timeutil import now_ns
from hamaster.lab import pillar as lab_pillar
from hamaster.lab.netns import LabError
from hamaster.lab.pair import Lab
from hamaster.lab.receivers import ChatReceiver, MailReceiver, free_port
from hamaster.master import store
from hamaster.master.correlate.settings import Settings
from hamaster.master.intake.probe import Observation
from hamaster.master.store import events, incidents, minions

BIN = Path(sys.executable).parent
HAMASTER, HAMINION = str(BIN / "hamaster"), str(BIN / "haminion")
STATES = Path(__file__).resolve().parents[1] / "states"  # the repository's state tree (an editable install)
T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, step: float = 0.05) -> T:
    """Poll `predicate` until it gives something truthy; LabError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(step)
    raise LabError(f"timed out after {timeout:g} s waiting for {what}")


class LabSite:
    def __init__(self, lab: Lab, root: Path, states: Path,
                 topo: lab_pillar.Topology = lab_pillar.TOPOLOGIES["seed"]) -> None:
        self.lab, self.root, self.states, self.topo = lab, root, states, topo
        self.vips = lab_pillar.vips(lab, topo)  # instance -> its VIP (none in the cloud topology)
        self.masters = lab_pillar.masters(lab, topo)  # instance -> the node meant to hold it
        self.config = root / "master.yaml"
        self.pillar = root / "pillar"
        self.mail, self.chat = MailReceiver(), ChatReceiver()
        self.master_proc: subprocess.Popen[bytes] | None = None
        self.minion_procs: dict[str, subprocess.Popen[bytes]] = {}
        self.applied_ns = 0  # when the last `apply()` ended
        self._closed = False

    @classmethod
    def create(cls, root: Path | None = None, *, nodes: Sequence[str] | None = None, states: Path = STATES,
               workers: int | str = "auto", start: bool = True,
               topology: "str | lab_pillar.Topology" = "seed") -> "LabSite":
        """Build the lab and the site (in `root`, kept after close; default: inside the lab's run dir, removed),
        start the alert receivers, the master and the minions. Nothing is applied yet: see `apply()`.
        `nodes` default: node1..nodeN, as many as the topology has."""
        if not (states / "top.sls").is_file():
            raise HamasterError(f"{states}: no state tree here (top.sls missing); run from a source checkout")
        topo = lab_pillar.topology(topology)
        nodes = tuple(nodes or (f"node{i}" for i in range(1, topo.nodes + 1)))
        lab = Lab.create(nodes, workdir=root / "lab" if root else None, ipv6=topo.ipv6)
        site = cls(lab, root or lab.workdir / "site", states, topo)
        try:
            site._write(workers)
            if start:
                site.start()
        except BaseException:
            site.close()
            raise
        return site

    def _write(self, workers: int | str) -> None:
        lab = self.lab
        port = free_port(lab.bridge_addr)
        _cli("init", str(self.root), "--master-addr", f"{lab.bridge_addr}:{port}",
             *[a for n in lab.nodes for a in ("--minion", n.name)])
        # init's master.yaml as it is, plus the two things every site says for itself: what to probe, whom to tell
        master = yaml.safe_load(self.config.read_text())
        master["probes"] = [{"vip": vip, "nodes": [n.name for n in lab.nodes]} for vip in self.vips.values()]
        # chat hears everything; mail only what needs a person (apprise sends a mail per 5.5 s at most)
        master["notify"] = {
            "targets": [{"url": self.mail.url, "tags": ["mail"]}, {"url": self.chat.url, "tags": ["chat"]}],
            "routes": [{"name": "chat", "tags": ["chat"]},
                       {"name": "mail", "tags": ["mail"], "kinds": ["failover", "split_brain", "no_master"],
                        "severities": ["warning", "critical"]}],
            "retry": {"max_attempts": 5, "backoff_s": 0.2, "max_backoff_s": 2},
        }
        _dump(self.config, master, "the lab's master (hamaster.lab.site): init's, with a probe and local alert targets")
        for node in lab.nodes:  # init's minion.yaml as it is: each minion runs inside its node's namespace
            # the state tree's nginx.conf includes mime.types; the node's /etc/nginx hides the host's
            shutil.copy("/etc/nginx/mime.types", node.etc / "nginx" / "mime.types")
        lab_pillar.write(self.pillar, lab, auth_pass=secrets.token_hex(4), workers=workers,
                         minion_config=self.minion_config, haminion=HAMINION, topo=self.topo)

    # -- processes ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.topo.unicast:  # before any keepalived runs: the nodes never hear multicast VRRP
            for node in self.lab.nodes:
                self.lab.drop_multicast_vrrp(node)
        self.mail.start()
        self.chat.start()
        self.start_master()
        for node in self.lab.nodes:
            self.start_minion(node.name)
        wait_until(lambda: len(self._read(minions.greeted) or []) == len(self.lab.nodes), 20,
                   "every minion to connect to the master")

    def start_master(self) -> None:
        (self.root / "control.sock").unlink(missing_ok=True)
        with open(self.root / "master.log", "ab") as log:
            # its own session: Ctrl-C in the demo reaches us, and we stop the master ourselves, by pid
            master = subprocess.Popen([HAMASTER, "master", "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.master_proc = master
        wait_until(lambda: (self.root / "control.sock").exists() or master.poll() is not None, 10,
                   "the master's control socket")
        if master.poll() is not None:
            raise LabError(f"the master exited at start ({self.master_proc.returncode}); see {self.root}/master.log")

    @property
    def master_pid(self) -> int | None:
        return self.master_proc.pid if self.master_proc is not None else None

    def kill_master(self, sig: int = signal.SIGKILL) -> None:
        proc, self.master_proc = self.master_proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def minion_config(self, node: str) -> Path:
        return self.root / "minions" / node / "minion.yaml"

    def start_minion(self, node: str) -> None:
        log = self.root / f"minion-{node}.log"
        self.minion_procs[node] = self.lab.spawn(node, [HAMINION, "run", "-c", str(self.minion_config(node))], log)

    def power_off(self, node: str) -> None:
        """The seed's "shut the server down": keepalived, nginx and the minion die at once, the cable goes dark."""
        self.lab.power_off(node)
        self.minion_procs.pop(node, None)

    def boot(self, node: str) -> None:
        """Power on and start what the node's init would: the minion, nginx, keepalived (configs from apply)."""
        self.lab.power_on(node)
        self.start_minion(node)
        self.lab.start_nginx(node)
        self.lab.start_keepalived(node)

    # -- commands -----------------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`hamaster ARGS -c master.yaml` as an operator would type it."""
        return _cli(*args, "-c", str(self.config), check=check, timeout=timeout)

    def apply(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            return self.cli("apply", str(self.states), "--pillar", str(self.pillar), "--timeout", "30", *args,
                            check=check)
        finally:
            self.applied_ns = now_ns()

    def correlator_settings(self) -> Settings:
        """The correlator's settings as the site's master.yaml gives them (init's: the defaults)."""
        return Settings.load(load_master_config(self.config).correlator, str(self.config))

    # -- what happened --------------------------------------------------------------------------------------
    def _read(self, reader: Callable[[store.Connection], T]) -> T | None:
        """`reader` on the master's store; None until the master has made it."""
        return store.read(self.root / "store.db", reader)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """SQL of a test or benchmark on the master's store ([] until the master has made it)."""
        return store.adhoc_query(self.root / "store.db", sql, *args)

    def probe_changes(self, vip: str | None = None) -> list[Observation]:
        """What the master's probe of `vip` (default: the lab's first VIP) saw, from its `@probe` events: who
        answered, from when."""
        tag = f"beacon/probe/{vip or self.lab.vip}/"
        rows = self._read(lambda conn: events.observations(conn, "@probe", tag_prefix=tag)) or []
        return [Observation(ts, None if state == "nobody" else state) for ts, state in rows]

    def wait_probe(self, node: str | None, timeout: float = 15, vip: str | None = None) -> int:
        """Wait until the probe's latest observation of `vip` is `node` (None: nobody answers); its time."""
        def seen() -> int | None:
            changes = self.probe_changes(vip)
            return changes[-1].ts_ns if changes and changes[-1].node == node else None
        at = wait_until(seen, timeout, f"{vip or self.lab.vip} to be answered by {node or 'nobody'}")
        assert at is not None  # wait_until returns only something truthy
        return at

    def settle(self, master: str | None = None, timeout: float = 60) -> dict[str, str]:
        """After an apply: wait until each instance's MASTER (`self.masters`; `master` for VI_1 if given)
        serves its VIP, the store says it is that instance's only MASTER, no transition came for the flapping
        window and the apply's planned grace is over (start-up churn is over; the next transitions are news,
        alerted as a user's site would alert them). Under nopreempt whoever won the start keeps the VIP, so
        without `master` any one MASTER per instance will do. Returns instance -> MASTER."""
        wanted = dict(self.masters)
        if master:
            wanted[lab_pillar.INSTANCE] = master
        elif self.topo.nopreempt:
            wanted = {i: "" for i in wanted}
        settings = self.correlator_settings()
        quiet_ns, grace_ns = int(settings.flapping_window_s * 1e9), int(settings.planned_grace_s * 1e9)
        for instance, node in wanted.items():
            if node and instance in self.vips:
                self.wait_probe(node, timeout, self.vips[instance])

        def quiet() -> dict[str, str] | None:
            latest = self._read(events.last_vrrp_by_instance) or {}
            last = max((ts for _, ts in latest.values()), default=0)
            held: dict[str, str] = {}
            for instance, node in wanted.items():
                now = [m for (m, i), (s, _) in latest.items() if i == instance and s == "MASTER"]
                if len(now) != 1 or node not in ("", now[0]):
                    return None
                held[instance] = now[0]
            fresh = now_ns() - last <= quiet_ns or now_ns() - self.applied_ns <= grace_ns
            return None if fresh else held
        who = ", ".join(f"{n or 'one node'} of {i}" for i, n in wanted.items())
        held = wait_until(quiet, timeout, f"{who} to be the only MASTER for {settings.flapping_window_s:g} s,"
                          f" and {settings.planned_grace_s:g} s after the apply", step=0.2)
        assert held is not None  # wait_until returns only something truthy
        return held

    def vrrp_states(self) -> list[tuple[str, str, int]]:
        """(minion, state, node_ns) of every VRRP transition stored, in node time."""
        return [(m, s, ts) for m, s, ts in self._read(events.vrrp_transitions) or []]

    def incidents(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = self._read(lambda conn: incidents.query(conn, kind=kind)) or []
        return [{"id": i.id, "kind": i.kind, "instance": i.instance, "severity": i.severity,
                 "started_ns": i.started_ns, "summary": i.summary,
                 "data": i.data, "planned": i.planned} for i in found]

    # -- life cycle -----------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.lab.close()
        finally:
            self.kill_master(signal.SIGTERM)
            self.chat.stop()
            self.mail.stop()

    def keep(self) -> None:
        """Leave lab, master and minions running after this process (`hamaster demo --keep`)."""
        self._closed = True
        self.lab.keep()  # and close() will not stop the master either

    def __enter__(self) -> "LabSite":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([HAMASTER, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout.strip() + "\n" + proc.stderr.strip()).strip().splitlines()[-20:])
        raise LabError(f"hamaster {args[0]} failed ({proc.returncode}):\n{tail}")
    return proc


def _dump(path: Path, data: dict[str, Any], header: str) -> None:
    path.write_text(f"# {header}\n" + yaml.safe_dump(data, sort_keys=False))
