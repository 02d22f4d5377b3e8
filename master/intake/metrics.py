"""Prometheus metrics of the master (`metrics: {listen: 127.0.0.1:9105}` in master.yaml).

Collected at scrape time: VRRP state and priority per instance and node (as keepalived exporters show them),
from the store; intake, drops, online minions and spool backlogs, from the daemon's live counters; incidents
and alert deliveries, from the store. A scrape opens its own read-only connection, so it never waits on intake.

    hamaster_vrrp_state{instance,node,state}      1 for the node's current state (MASTER/BACKUP/FAULT/STOP)
    hamaster_vrrp_priority{instance,node}         the priority of the last transition
    hamaster_events_total{node,kind}              events stored
    hamaster_frames_dropped_total                 frames refused (bad msgpack, version, fields ...)
    hamaster_refused_total{reason}                frames, keys, handshakes refused (see intake/refusals.py)
    hamaster_store_writable                       0 while the store's disk is full: the master is not acking
    hamaster_minion_online{node}                  1 while heartbeats arrive
    hamaster_minion_spool_backlog{node}           events waiting in the minion's spool (as of its last hello)
    hamaster_incidents_total{kind,severity}
    hamaster_alert_deliveries_total{status}       sent, failed, pending, suppressed
    hamaster_alert_failed_critical_deliveries     critical incidents' deliveries given up (notify.routes fallback)

An example alert rule (Prometheus):

    - alert: HaPairNoMaster
      expr: sum by (instance) (hamaster_vrrp_state{state="MASTER"}) == 0
      for: 5s
    - alert: HaPairSplitBrain
      expr: sum by (instance) (hamaster_vrrp_state{state="MASTER"}) > 1
      for: 2s
"""

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hamaster.core.errors import ConfigError, StoreError
from hamaster.master import store
from hamaster.master.store import events as stored_events
from hamaster.master.store import incidents as stored_incidents
from hamaster.master.store import outbox as stored_outbox

log = logging.getLogger("hamaster.metrics")
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")


class MasterCollector(Collector):
    def __init__(self, store_path: str, live: Callable[[], dict[str, Any]]) -> None:
        self.store_path = store_path
        self.live = live  # the daemon's status snapshot (the control socket's `status` answer)

    def collect(self) -> Iterator[Any]:
        live = self.live()
        dropped = CounterMetricFamily("hamaster_frames_dropped", "Frames refused by the master")
        dropped.add_metric([], live["counters"]["dropped"])
        yield dropped
        refused = CounterMetricFamily("hamaster_refused", "Frames, keys and connections refused, by reason",
                                      labels=["reason"])
        for reason, n in sorted(live.get("refused", {}).items()):
            refused.add_metric([reason], n)
        yield refused
        writable = GaugeMetricFamily("hamaster_store_writable", "0 while the store's disk is full (no acks)")
        writable.add_metric([], 1 if live.get("store", {}).get("writable", True) else 0)
        yield writable
        online = GaugeMetricFamily("hamaster_minion_online", "1 while the minion's heartbeats arrive", labels=["node"])
        backlog = GaugeMetricFamily("hamaster_minion_spool_backlog", "Events waiting in the minion's spool",
                                    labels=["node"])
        for node, m in live["minions"].items():
            online.add_metric([node], 1 if m["online"] else 0)
            backlog.add_metric([node], m["backlog"])
        yield online
        yield backlog
        try:
            conn = store.connect(self.store_path, readonly=True)
        except StoreError as exc:
            log.warning("metrics: %s", exc)
            return
        try:
            yield from self._from_store(conn)
        finally:
            conn.close()

    def _from_store(self, conn: store.Connection) -> Iterator[Any]:
        state = GaugeMetricFamily("hamaster_vrrp_state", "Current VRRP state of each node per instance",
                                  labels=["instance", "node", "state"])
        prio = GaugeMetricFamily("hamaster_vrrp_priority", "Priority at the last transition",
                                 labels=["instance", "node"])
        for node, instances in store.current_vrrp_states(conn).items():
            for instance, (current, priority, _) in instances.items():
                for s in STATES:
                    state.add_metric([instance, node, s], 1 if s == current else 0)
                if priority is not None:
                    prio.add_metric([instance, node], priority)
        yield state
        yield prio
        events = CounterMetricFamily("hamaster_events", "Events stored", labels=["node", "kind"])
        for node, kind, n in stored_events.counts(conn):
            events.add_metric([node, kind], n)
        yield events
        incidents = CounterMetricFamily("hamaster_incidents", "Incidents derived", labels=["kind", "severity"])
        for kind, severity, n in stored_incidents.counts(conn):
            incidents.add_metric([kind, severity], n)
        yield incidents
        deliveries = CounterMetricFamily("hamaster_alert_deliveries", "Alert deliveries by status", labels=["status"])
        for status, n in stored_outbox.counts(conn):
            deliveries.add_metric([status], n)
        yield deliveries
        failed, _ = stored_outbox.failed_critical(conn)
        critical = GaugeMetricFamily("hamaster_alert_failed_critical_deliveries",
                                     "Deliveries of critical incidents given up (nobody got them on that target)")
        critical.add_metric([], failed)
        yield critical


def serve(listen: str, store_path: str, live: Callable[[], dict[str, Any]], where: str) -> Any:
    """Start the HTTP endpoint in a thread; returns the server (call .shutdown() to stop it)."""
    from prometheus_client import start_http_server

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{where}: metrics.listen must be HOST:PORT, got {listen!r}")
    registry = CollectorRegistry()
    registry.register(MasterCollector(store_path, live))
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    log.info("metrics on http://%s/metrics", listen)
    return server
