"""The site as the dashboard knows it: the latest word of every node, kept in memory and folded forward.

`SiteState.load` reads the latest VRRP event of each (node, instance) and the latest beacon of each
(node, beacon) once; `SiteState.refresh` then folds in the events stored since, an indexed read of a few
rows (master/store/dashboard.py). A newer node time wins; an event from a spool flushed late does not
overwrite a newer word.
"""

from dataclasses import dataclass, field
from typing import Any

from hamaster.master.store import Connection, dashboard

LATE_MARGIN_NS = 10 * 10**9  # a shared store: look back this far in master time for rows committed late


@dataclass(slots=True)
class Word:
    """The latest thing a node said about one subject: a VRRP instance, or a beacon's family."""

    value: str | None
    priority: int | None
    node_ns: int
    data: dict[str, Any]


@dataclass
class SiteState:
    vrrp: dict[tuple[str, str], Word] = field(default_factory=dict)  # (node, instance) -> state
    # (node, family) -> value: ("node1", "nginx") -> "up", ("node1", "vip/10.0.0.5") -> "held",
    # ("@probe", "probe/10.0.0.5") -> "node1" | "nobody", ("node1", "minion/keepalived/config") -> facts
    beacons: dict[tuple[str, str], Word] = field(default_factory=dict)
    min_delay_ns: dict[str, int] = field(default_factory=dict)  # node -> smallest master_ns - node_ns seen
    measured_offset_ns: dict[str, int] = field(default_factory=dict)  # node -> the master's own (data.clock_offset_ns)
    last_id: int = 0
    last_master_ns: int = 0
    shared: bool = False
    _seen_ids: set[int] = field(default_factory=set)  # a shared store: ids folded within LATE_MARGIN_NS

    @classmethod
    def load(cls, conn: Connection) -> "SiteState":
        state = cls(shared=conn.dialect.shared)
        state.last_id = dashboard.last_event_id(conn)
        for row in [*dashboard.latest_vrrp(conn), *dashboard.latest_by_tag(conn)]:
            state.fold(row)
        return state

    def refresh(self, conn: Connection) -> bool:
        """Fold in what was stored since the last look; True if anything was new."""
        since = self.last_master_ns - LATE_MARGIN_NS if self.shared and self.last_master_ns else None
        rows = dashboard.events_after(conn, self.last_id, since_master_ns=since)
        new = False
        for row in rows:
            if self.shared:
                if row[0] in self._seen_ids:
                    continue
                self._seen_ids.add(row[0])
            self.fold(row)
            new = True
        if self.shared and len(self._seen_ids) > 50_000:
            self._seen_ids = {i for i in self._seen_ids if i > self.last_id - 50_000}
        return new

    def fold(self, row: dashboard.Row) -> None:
        id_, minion, node_ns, master_ns, kind, tag, instance, state, priority, _ = row
        self.last_id = max(self.last_id, id_)
        self.last_master_ns = max(self.last_master_ns, master_ns)
        data = dashboard.data_of(row)
        if isinstance(data.get("clock_offset_ns"), int):
            self.measured_offset_ns[minion] = data["clock_offset_ns"]
        delay = master_ns - node_ns
        if delay < self.min_delay_ns.get(minion, delay + 1):
            self.min_delay_ns[minion] = delay
        if kind == "vrrp" and instance:
            if data.get("duplicate_of"):
                return
            _newer(self.vrrp, (minion, instance), Word(state, priority, node_ns, data))
        elif kind == "beacon":
            parts = tag.split("/")
            if len(parts) >= 3:
                _newer(self.beacons, (minion, "/".join(parts[1:-1])), Word(parts[-1], None, node_ns, data))
        elif kind == "minion" and tag == "minion/keepalived/config":
            _newer(self.beacons, (minion, tag), Word("config", None, node_ns, data))

    def clock_offset_ns(self, node: str) -> int | None:
        """node - master: the master's own measure when it stored one, else the smallest delay seen (transit
        included: an upper bound, a few ms off)."""
        if node in self.measured_offset_ns:
            return self.measured_offset_ns[node]
        delay = self.min_delay_ns.get(node)
        return None if delay is None else -delay


def _newer(table: dict[Any, Word], key: Any, word: Word) -> None:
    old = table.get(key)
    if old is None or word.node_ns >= old.node_ns:
        table[key] = word
