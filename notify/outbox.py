"""The durable outbox: incidents -> `deliveries` rows (one per incident x target) -> attempts.

Routing an incident decides, per route and target, whether it is sent or suppressed, and says why in the
row (`last_error` of a suppressed row): silenced, planned (a `hamaster apply` job caused it), inhibited
(every node it concerns is silent: the node_silent alert says it all), flapping (one flapping alert, then
the summary when it calms), or over the route's rate limit. The rows and the incident's `routed_ns` are
written in one transaction, so an incident is routed exactly once even across a crash.

Sending is the Notifier's job; it picks `due()` rows and reports each attempt to `record()`, which keeps
every attempt in `delivery_attempts` and backs off exponentially until `retry.max_attempts`.

Several masters may share one store (PostgreSQL): routing claims the incident (`routed_ns` from NULL) and
sending claims the delivery (`pending` -> `sending`), each with one UPDATE that only one of them can win, so
an alert goes out once. A claim whose sender died is given back after CLAIM_TIMEOUT_S, or at once when a
master starts on a SQLite store (one master's alone: every claim in it is of a run that is over).
"""

import fnmatch
import json
import sqlite3
from dataclasses import dataclass

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import to_datetime
from hamaster.master.store import incidents
from hamaster.notify.config import NotifyConfig, Route, Target
from hamaster.notify.reactor import Reactor
from hamaster.notify.render import Renderer

S = 1_000_000_000
CLAIM_TIMEOUT_S = 60  # a delivery `sending` this long lost its sender (crash, kill): send it again
# the oldest unfinished delivery of each target; while it is in flight (`sending`) the target waits
_HEADS = "SELECT MIN(id) FROM deliveries WHERE status IN ('pending', 'sending') GROUP BY target"
PER_INSTANCE = ("no_master", "split_brain", "flapping", "failover", "recovered")


@dataclass(frozen=True)
class Due:
    id: int
    incident_id: int
    target: Target
    title: str
    body: str
    attempts: int
    severity: str


def take_back_claims(conn: sqlite3.Connection) -> int:
    """At a master's start: deliveries a dead run left `sending` are pending again. Only on SQLite: on a
    shared PostgreSQL store a claim may be another live master's (claims name no owner), so CLAIM_TIMEOUT_S."""
    if not isinstance(conn, sqlite3.Connection):
        return 0
    cur = conn.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")
    conn.commit()
    return cur.rowcount


class Outbox:
    def __init__(self, conn: sqlite3.Connection, cfg: NotifyConfig, renderer: Renderer, reactor: Reactor) -> None:
        self.conn, self.cfg, self.renderer, self.reactor = conn, cfg, renderer, reactor
        self.by_masked = {t.masked: t for t in cfg.targets}

    # -- routing -------------------------------------------------------------------------------------
    def routes_for(self, inc: Incident) -> list[Route]:
        wanted = self.reactor.routes_for(inc)
        if inc.data.get("closes"):  # recovered, node_back: go wherever what they close went
            wanted |= {r for (r,) in self.conn.execute(
                "SELECT DISTINCT route FROM deliveries WHERE incident_id = ? AND status != 'suppressed'",
                (inc.data["closes"],))}
        return [r for r in self.cfg.routes if r.name in wanted or self._matches(r, inc)]

    @staticmethod
    def _matches(route: Route, inc: Incident) -> bool:
        if inc.kind not in route.kinds or inc.severity not in route.severities:
            return False
        return not route.instances or any(fnmatch.fnmatchcase(inc.instance or "", g) for g in route.instances)

    def why_quiet(self, route: Route, inc: Incident, now: int) -> str | None:
        """The reason this incident is not sent on this route, or None to send it."""
        if inc.planned and not route.planned:
            return f"planned: caused by apply job {inc.job_id}"
        for sid, instance, node, ends, comment in self.conn.execute(
            "SELECT id, instance, node, ends_ns, comment FROM silences WHERE starts_ns <= ? AND ends_ns > ?",
            (now, now),
        ):
            if (instance and inc.instance and fnmatch.fnmatchcase(inc.instance, instance)) or node in inc.nodes:
                until = f"{to_datetime(ends):%Y-%m-%d %H:%M} UTC"
                return f"silenced by #{sid} until {until}" + (f" ({comment})" if comment else "")
        if inc.kind == "node_silent":
            failover = self._failover_naming(inc)
            if failover is not None:
                return f"folded into failover #{failover}: its alert names the silent node"
        if inc.kind in PER_INSTANCE and inc.instance:
            silent = [n for n in inc.nodes if self._silent(n)]
            if inc.kind not in ("failover", "recovered") and silent and len(silent) == len(inc.nodes):
                return f"inhibited: {', '.join(silent)} silent"
            flap = self.conn.execute(
                "SELECT id FROM incidents WHERE kind = 'flapping' AND instance = ? AND ended_ns IS NULL"
                " AND id != ?", (inc.instance, inc.id)).fetchone()
            if flap and inc.data.get("closes") != flap[0]:
                return f"flapping (#{flap[0]}): a summary follows when it calms"
        if route.rate_max is not None:
            (count,) = self.conn.execute(
                "SELECT COUNT(DISTINCT incident_id) FROM deliveries WHERE route = ? AND created_ns > ?"
                " AND status != 'suppressed'", (route.name, now - int(route.rate_per_s * S))).fetchone()
            if count >= route.rate_max:
                return f"rate limit: {route.rate_max} per {route.rate_per_s:g} s on route {route.name}"
        return None

    def _failover_naming(self, silent: Incident) -> int | None:
        """A failover away from this silent node, derived since shortly before it went silent."""
        node = silent.nodes[0] if silent.nodes else ""
        for fid, data in self.conn.execute(
            "SELECT id, data FROM incidents WHERE kind = 'failover' AND started_ns >= ? ORDER BY id",
            (silent.started_ns - int(self.cfg.group_wait_s * S),),
        ):
            if json.loads(data or "{}").get("old_holder") == node:
                return fid
        return None

    def hold_until(self, inc: Incident, now: int) -> int | None:
        """node_silent waits `group_wait_s` for the failover that would make it redundant; the rest go now."""
        return now + int(self.cfg.group_wait_s * S) if inc.kind == "node_silent" and inc.routed_ns is None else None

    def _silent(self, node: str) -> bool:
        row = self.conn.execute(
            "SELECT kind FROM incidents WHERE kind IN ('node_silent', 'node_back') AND nodes = ?"
            " ORDER BY started_ns DESC, id DESC LIMIT 1", (json.dumps([node]),)).fetchone()
        return row is not None and row[0] == "node_silent"

    def route(self, incident_id: int, now: int) -> int:
        """Create the deliveries of one incident (once: a routed incident is skipped). -> rows made."""
        inc = incidents.get(self.conn, incident_id)
        if inc is None or inc.routed_ns is not None:
            return 0
        claim = self.conn.execute("UPDATE incidents SET routed_ns = ? WHERE id = ? AND routed_ns IS NULL",
                                  (now, inc.id))
        if claim.rowcount != 1:  # another master routed it since we read it
            self.conn.rollback()
            return 0
        rows = []
        title = body = ""
        for route in self.routes_for(inc):
            quiet = self.why_quiet(route, inc, now)
            if quiet is None and not title:
                title, body = self.renderer.render(inc)
            for target in self.cfg.targets_for(route):
                rows.append((inc.id, route.name, target.masked, "suppressed" if quiet else "pending", quiet,
                             title if not quiet else None, body if not quiet else None, now, now,
                             None if quiet else now))
        self.conn.executemany(
            "INSERT INTO deliveries (incident_id, route, target, status, last_error, title, body, created_ns,"
            " updated_ns, next_ns) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.conn.commit()
        return len(rows)

    def unrouted(self, since_ns: int) -> list[int]:
        """Incidents committed but never routed (the master died in between); older ones are marked routed."""
        self.conn.execute("UPDATE incidents SET routed_ns = started_ns WHERE routed_ns IS NULL AND started_ns < ?",
                          (since_ns,))
        self.conn.commit()
        return [i for (i,) in self.conn.execute("SELECT id FROM incidents WHERE routed_ns IS NULL ORDER BY id")]

    # -- sending -------------------------------------------------------------------------------------
    def due(self, now: int, busy: set[int]) -> list[Due]:
        """The oldest pending delivery of each target, if its time has come: a target gets its alerts in
        order (never `recovered` before what it closes), and a dead or slow target delays only itself.
        Each is claimed (`sending`) before it is returned: what another master claimed is not ours to send."""
        self.conn.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending' AND updated_ns < ?",
                          (now - CLAIM_TIMEOUT_S * S,))
        self.conn.commit()
        out = []
        for did, iid, target, title, body, attempts, severity in self.conn.execute(
            "SELECT d.id, d.incident_id, d.target, d.title, d.body, d.attempts, i.severity FROM deliveries d"
            f" JOIN incidents i ON i.id = d.incident_id WHERE d.id IN ({_HEADS}) AND d.status = 'pending'"
            " AND d.next_ns <= ?", (now,)
        ).fetchall():
            t = self.by_masked.get(target)
            if did in busy or not self._claim(did, now):
                continue
            if t is None:  # the target was removed from the config since
                self.record(did, False, "target no longer configured", now, final=True)
                continue
            out.append(Due(did, iid, t, title or "", body or "", attempts, severity))
        return out

    def _claim(self, delivery_id: int, now: int) -> bool:
        cur = self.conn.execute("UPDATE deliveries SET status = 'sending', updated_ns = ? WHERE id = ?"
                                " AND status = 'pending'", (now, delivery_id))
        self.conn.commit()
        return cur.rowcount == 1

    def next_due_ns(self) -> int | None:
        (ns,) = self.conn.execute(f"SELECT MIN(next_ns) FROM deliveries WHERE id IN ({_HEADS})"
                                  " AND status = 'pending'").fetchone()
        return ns

    def record(self, delivery_id: int, ok: bool, error: str | None, now: int, *, final: bool = False) -> str:
        """Store one attempt; -> the delivery's new status (sent, pending again, or failed)."""
        (attempts,) = self.conn.execute("SELECT attempts FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        attempts += 1
        if ok:
            status, next_ns = "sent", None
        elif final or attempts >= self.cfg.retry.max_attempts:
            status, next_ns = "failed", None
        else:
            status, next_ns = "pending", now + int(self.cfg.retry.delay_s(attempts) * S)
        self.conn.execute("INSERT INTO delivery_attempts (delivery_id, at_ns, ok, error) VALUES (?,?,?,?)",
                          (delivery_id, now, int(ok), error))
        self.conn.execute("UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, updated_ns = ?,"
                          " next_ns = ? WHERE id = ?", (status, attempts, error, now, next_ns, delivery_id))
        self.conn.commit()
        return status
