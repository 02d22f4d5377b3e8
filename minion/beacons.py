"""Beacons: facts about the node watched in a thread, reported only when they change.

    beacon/vip/<address>/held|lost     a VIP appeared on or left a local interface (data: interface, and the
                                       instance whose VIP it is, as keepalived's dump says)
    beacon/keepalived/up|down          keepalived's process in this network namespace: watched through a pidfd,
                                       so its death is reported the moment the kernel reaps it (kill -9 and
                                       crashes send no STOP notify: this event is what says the node's
                                       instances are gone); data: pid, and died: true for a death seen live;
                                       the first report has initial: true and minion_started_ns
    beacon/nginx/up|down               a local HTTP check of nginx
    vrrp/<instance>/<STATE> (source reconcile)
                                       keepalived's own state dump, dated when keepalived wrote it, disagrees
                                       with the last transition we recorded and is newer than it: a hook or
                                       FIFO line was missed (the spool drops agreements and older dumps; a
                                       dump that is not provably this keepalived's is skipped and counted)

minion.yaml:
    beacons:
      interval: 1                      # seconds between looks
      vip: auto                        # or a list of addresses; auto = the VIPs keepalived's dump names
      keepalived: true
      nginx: http://127.0.0.1/         # or false
    reconcile_interval: 30             # seconds between state dumps (also at start and on demand)
"""

import http.client
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hamaster.core.config import MinionConfig
from hamaster.core.errors import ConfigError, StateError
from hamaster.core.events import vrrp_tag
from hamaster.minion import keepalived
from hamaster.minion.spool import NewEvent

log = logging.getLogger("haminion.beacons")


def http_up(url: str, timeout: float = 1.0) -> bool:
    u = urlparse(url)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        conn.request("GET", u.path or "/")
        return conn.getresponse().status < 500
    except OSError:
        return False
    finally:
        conn.close()


class Beacons(threading.Thread):
    def __init__(self, cfg: MinionConfig, submit: Callable[[NewEvent], None]) -> None:
        super().__init__(name="beacons", daemon=True)
        b = cfg.beacons
        self.interval = float(b.get("interval", 1.0))
        self.vip_setting = b.get("vip", "auto")
        self.watch_keepalived = bool(b.get("keepalived", True))
        self.nginx_url = b.get("nginx", "http://127.0.0.1/")
        if self.vip_setting != "auto" and not isinstance(self.vip_setting, list):
            raise ConfigError(f"{cfg.path}: field 'beacons.vip' must be auto or a list of addresses")
        if self.nginx_url not in (False, None) and not str(self.nginx_url).startswith(("http://", "https://")):
            raise ConfigError(f"{cfg.path}: field 'beacons.nginx' must be an http:// URL or false")
        self.reconcile_interval = cfg.reconcile_interval
        self.submit = submit
        self.stopping = threading.Event()
        self.reconcile_now = threading.Event()
        self.skipped: Counter[str] = Counter()  # dumps not used, by reason (UntrustedDump.reason)
        self.skipped_total = 0  # their sum, for the daemon's thread (which must not iterate a changing Counter)
        self.known: dict[str, Any] = {}
        self.vips: set[str] = set(self.vip_setting) if isinstance(self.vip_setting, list) else set()
        self.vip_instance: dict[str, str] = {}  # from keepalived's dump: which instance a VIP belongs to
        self.config_vips: dict[str, str] = {}  # VIP -> instance, from keepalived.conf (set by the daemon's thread)

    def _changed(self, key: str, value: Any, tag: str, **data: Any) -> None:
        if self.known.get(key, object()) != value:
            first = key not in self.known
            self.known[key] = value
            self.submit(NewEvent(time.time_ns(), "beacon", tag, state=str(value), source="beacon",
                                 data={"initial": True, **data} if first else data))

    def look(self) -> None:
        if self.nginx_url:
            up = http_up(str(self.nginx_url))
            self._changed("nginx", up, f"beacon/nginx/{'up' if up else 'down'}", url=str(self.nginx_url))
        from_config = self.config_vips if self.vip_setting == "auto" else {}
        vips = self.vips | from_config.keys()
        if vips:
            held = keepalived.vip_interfaces(vips)
            for vip in sorted(vips):
                extra = {"interface": held[vip]} if vip in held else {}
                instance = self.vip_instance.get(vip) or from_config.get(vip)
                if instance:
                    extra["instance"] = instance
                self._changed(f"vip:{vip}", vip in held, f"beacon/vip/{vip}/{'held' if vip in held else 'lost'}",
                              **extra)

    def reconcile(self) -> None:
        """Report keepalived's own view, dated when keepalived wrote it; the spool keeps only what disagrees with
        the last recorded state and is newer than it. A dump that cannot be vouched for is skipped and counted."""
        try:
            dump = keepalived.take_dump()
        except keepalived.UntrustedDump as exc:
            self.skipped[exc.reason] += 1
            self.skipped_total += 1
            if self.skipped[exc.reason] == 1 or self.skipped[exc.reason] % 100 == 0:
                log.warning("reconciliation skipped (%d so far): %s", self.skipped[exc.reason], exc)
            return
        except StateError as exc:
            log.debug("no reconciliation: %s", exc)
            return
        for name, st in dump.instances.items():
            if self.vip_setting == "auto":
                self.vips.update(st.vips)
            self.vip_instance.update((vip, name) for vip in st.vips)
            if st.state in ("MASTER", "BACKUP", "FAULT", "STOP"):
                self.submit(NewEvent(dump.written_ns, "vrrp", vrrp_tag(name, st.state), name, st.state, st.priority,
                                     "reconcile", {"vrid": st.vrid, "vips": st.vips, "pid": dump.pid,
                                                   "last_transition_ns": st.last_transition_ns}))

    def run(self) -> None:
        if self.watch_keepalived:
            KeepalivedWatch(self.interval, self.submit, self.stopping, self.reconcile_now.set).start()
        next_reconcile = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            try:
                if now >= next_reconcile or self.reconcile_now.is_set():
                    self.reconcile_now.clear()
                    self.reconcile()
                    next_reconcile = now + self.reconcile_interval
                self.look()
            except Exception:  # a beacon must never take the daemon down
                log.exception("beacon round failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


class KeepalivedWatch(threading.Thread):
    """keepalived/up when this node's keepalived appears (looked for every `interval`), keepalived/down the
    moment it dies: we hold a pidfd on it and sleep in poll(), so the death is dated by the kernel's wake-up,
    not by the next look."""

    def __init__(self, interval: float, submit: Callable[[NewEvent], None], stopping: threading.Event,
                 on_up: Callable[[], None] = lambda: None) -> None:
        super().__init__(name="keepalived-watch", daemon=True)
        self.interval, self.submit, self.stopping, self.on_up = interval, submit, stopping, on_up
        self.up: bool | None = None  # None: not looked yet
        self.started_ns = process_started_ns()

    def _report(self, up: bool, **data: Any) -> None:
        if up == self.up:
            return
        if self.up is None:  # the first look: a down then says keepalived died before we watched (or never ran)
            data.update(initial=True, minion_started_ns=self.started_ns)
        elif up:
            self.on_up()  # (re)started: its states and VIPs (vip: auto) are news
        self.up = up
        self.submit(NewEvent(time.time_ns(), "beacon", f"beacon/keepalived/{'up' if up else 'down'}",
                             state=str(up), source="beacon", data=data))

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._watch_once()
            except Exception:  # a beacon must never take the daemon down
                log.exception("keepalived watch failed")
                self.stopping.wait(self.interval)

    def _watch_once(self) -> None:
        pid = keepalived.keepalived_pid()
        pidfd = keepalived.open_pidfd(pid) if pid is not None else None
        if pid is None or pidfd is None:
            self._report(False)
            self.stopping.wait(self.interval)
            return
        try:
            self._report(True, pid=pid)
            while not self.stopping.is_set():
                if keepalived.wait_for_exit(pidfd, 0.5):
                    self._report(False, pid=pid, died=True)
                    # its children outlive it for a moment, and one of them would pass for a parent
                    self.stopping.wait(self.interval)
                    return
        finally:
            os.close(pidfd)


def process_started_ns() -> int:
    """When this process was started (exec'd), in wall-clock ns: /proc's start time, to the clock tick."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return time.time_ns()
    since_start_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return time.time_ns() - since_start_ns
