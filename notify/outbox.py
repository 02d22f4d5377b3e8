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
an alert goes out once. A claim names the master that made it, whose notifier beats in the store on every
round: a claim whose master stopped beating (it died) is given back within seconds (the store's LEASE_S), and
at once when a master starts on a SQLite store (one master's alone: every claim in it is of a run that is
over). A claim that names nobody (made by an older hamaster) is given back after CLAIM_TIMEOUT_S.

The outbox holds no SQL: it asks the store through `OutboxStore`, which the master implements on its store
(hamaster.master.store.outbox) and hands to the Notifier.
"""

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import to_datetime
from hamaster.notify.config import NotifyConfig, Route, Target
from hamaster.notify.reactor import Reactor
from hamaster.notify.render import Renderer

S = 1_000_000_000
CLAIM_TIMEOUT_S = 60  # a claim that names no master, `sending` this long, lost its sender: send it again
PER_INSTANCE = ("no_master", "split_brain", "flapping", "failover", "recovered")
# what waits group_wait_s for a failover away from its node, whose alert then says it (one message per crash)
FOLDED = ("node_silent", "stale_vip")

# (incident id, route, target (masked), status, reason, title, body, created_ns, updated_ns, next_ns)
NewDelivery = tuple[int, str, str, str, str | None, str | None, str | None, int, int, int | None]
# (id, instance glob, node, ends_ns, comment)
ActiveSilence = tuple[int, str | None, str | None, int, str | None]
# (delivery id, incident id, target (masked), title, body, attempts, incident severity)
PendingDelivery = tuple[int, int, str, str | None, str | None, int, str]


class OutboxStore(Protocol):
    """What the outbox needs of the store. Errors are StoreError; the methods that write say when they commit."""

    def incident(self, incident_id: int) -> Incident | None: ...

    def routes_delivered(self, incident_id: int) -> set[str]:
        """The routes of the incident's deliveries that were not suppressed."""

    def silences_in_force(self, now: int) -> list[ActiveSilence]: ...

    def open_flapping(self, instance: str, other_than: int | None) -> int | None:
        """The id of a flapping incident of the instance still open, other than `other_than`."""

    def incidents_alerted_since(self, route: str, since_ns: int) -> int:
        """How many incidents have a delivery on `route` created after `since_ns`, not suppressed."""

    def failovers_since(self, since_ns: int) -> list[tuple[int, dict[str, Any]]]:
        """(id, data) of the failovers started since `since_ns`, by id."""

    def last_liveness(self, node: str) -> str | None:
        """The kind of the node's latest node_silent or node_back incident (None if neither)."""

    def claim_routing(self, incident_id: int, now: int) -> bool:
        """Mark the incident routed, if nobody has yet; opens the transaction add_deliveries commits."""

    def add_deliveries(self, rows: list[NewDelivery]) -> None:
        """Store the deliveries of the incident just claimed, and commit with the claim."""

    def abandon(self) -> None:
        """Roll back what was not committed (a lost claim)."""

    def take_unrouted(self, older_ns: int) -> list[int]:
        """Mark the unrouted incidents started before `older_ns` routed (commit); -> ids still unrouted."""

    def beat(self, now: int) -> None:
        """This master's notifier is alive at `now`: its claims are not to be taken (commit)."""

    def take_back_lost_claims(self, now: int, unowned_before_ns: int) -> int:
        """Give back (`sending` -> `pending`) the claims of masters that stopped beating, and those that name
        no master made before `unowned_before_ns` (commit). -> how many."""

    def due(self, now: int) -> list[PendingDelivery]:
        """The oldest unfinished delivery of each target, if it is pending and due by `now`."""

    def claim_delivery(self, delivery_id: int, now: int) -> bool:
        """`pending` -> `sending`, if nobody claimed it first (commit)."""

    def next_due_ns(self) -> int | None:
        """When the next of the targets' oldest pending deliveries is due."""

    def record_attempt(self, delivery_id: int, ok: bool, error: str | None, now: int,
                       status: Callable[[int], tuple[str, int | None]]) -> str:
        """Store an attempt; `status(attempts)` gives the delivery's new (status, next_ns) (commit)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Due:
    id: int
    incident_id: int
    target: Target
    title: str
    body: str
    attempts: int
    severity: str


class Outbox:
    def __init__(self, db: OutboxStore, cfg: NotifyConfig, renderer: Renderer, reactor: Reactor) -> None:
        self.db, self.cfg, self.renderer, self.reactor = db, cfg, renderer, reactor
        self.by_masked = {t.masked: t for t in cfg.targets}

    # -- routing -------------------------------------------------------------------------------------
    def routes_for(self, inc: Incident) -> list[Route]:
        wanted = self.reactor.routes_for(inc)
        if inc.data.get("closes"):  # recovered, node_back: go wherever what they close went
            wanted |= self.db.routes_delivered(inc.data["closes"])
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
        for sid, instance, node, ends, comment in self.db.silences_in_force(now):
            if (instance and inc.instance and fnmatch.fnmatchcase(inc.instance, instance)) or node in inc.nodes:
                until = f"{to_datetime(ends):%Y-%m-%d %H:%M} UTC"
                return f"silenced by #{sid} until {until}" + (f" ({comment})" if comment else "")
        if inc.kind in FOLDED:
            failover = self._failover_naming(inc)
            if failover is not None:
                what = "the silent node" if inc.kind == "node_silent" else "the stale VIP"
                return f"folded into failover #{failover}: its alert names {what}"
        if inc.kind in PER_INSTANCE and inc.instance:
            silent = [n for n in inc.nodes if self._silent(n)]
            if inc.kind not in ("failover", "recovered") and silent and len(silent) == len(inc.nodes):
                return f"inhibited: {', '.join(silent)} silent"
            flap = self.db.open_flapping(inc.instance, inc.id)
            if flap is not None and inc.data.get("closes") != flap:
                return f"flapping (#{flap}): a summary follows when it calms"
        since = now - int(route.rate_per_s * S)
        if route.rate_max is not None and self.db.incidents_alerted_since(route.name, since) >= route.rate_max:
            return f"rate limit: {route.rate_max} per {route.rate_per_s:g} s on route {route.name}"
        return None

    def _failover_naming(self, silent: Incident) -> int | None:
        """A failover away from this node (silent, or left with a stale VIP), derived since shortly before."""
        node = silent.nodes[0] if silent.nodes else ""
        for fid, data in self.db.failovers_since(silent.started_ns - int(self.cfg.group_wait_s * S)):
            if data.get("old_holder") == node and (silent.kind == "node_silent" or data.get("stale_vip")):
                return fid
        return None

    def hold_until(self, inc: Incident, now: int) -> int | None:
        """node_silent and stale_vip wait `group_wait_s` for the failover that would make them redundant."""
        return now + int(self.cfg.group_wait_s * S) if inc.kind in FOLDED and inc.routed_ns is None else None

    def _silent(self, node: str) -> bool:
        return self.db.last_liveness(node) == "node_silent"

    def route(self, incident_id: int, now: int) -> int:
        """Create the deliveries of one incident (once: a routed incident is skipped). -> rows made."""
        inc = self.db.incident(incident_id)
        if inc is None or inc.id is None or inc.routed_ns is not None:
            return 0
        if not self.db.claim_routing(inc.id, now):  # another master routed it since we read it
            self.db.abandon()
            return 0
        rows: list[NewDelivery] = []
        title = body = ""
        for route in self.routes_for(inc):
            quiet = self.why_quiet(route, inc, now)
            if quiet is None and not title:
                title, body = self.renderer.render(inc)
            for target in self.cfg.targets_for(route):
                rows.append((inc.id, route.name, target.masked, "suppressed" if quiet else "pending", quiet,
                             title if not quiet else None, body if not quiet else None, now, now,
                             None if quiet else now))
        self.db.add_deliveries(rows)
        return len(rows)

    def unrouted(self, since_ns: int) -> list[int]:
        """Incidents committed but never routed (the master died in between); older ones are marked routed."""
        return self.db.take_unrouted(since_ns)

    # -- sending -------------------------------------------------------------------------------------
    def due(self, now: int, busy: set[int]) -> list[Due]:
        """The oldest pending delivery of each target, if its time has come: a target gets its alerts in
        order (never `recovered` before what it closes), and a dead or slow target delays only itself.
        Each is claimed (`sending`) before it is returned: what another master claimed is not ours to send."""
        self.db.beat(now)
        self.db.take_back_lost_claims(now, now - CLAIM_TIMEOUT_S * S)
        out = []
        for did, iid, target, title, body, attempts, severity in self.db.due(now):
            t = self.by_masked.get(target)
            if did in busy or not self.db.claim_delivery(did, now):
                continue
            if t is None:  # the target was removed from the config since
                self.record(did, False, "target no longer configured", now, final=True)
                continue
            out.append(Due(did, iid, t, title or "", body or "", attempts, severity))
        return out

    def next_due_ns(self) -> int | None:
        return self.db.next_due_ns()

    def record(self, delivery_id: int, ok: bool, error: str | None, now: int, *, final: bool = False) -> str:
        """Store one attempt; -> the delivery's new status (sent, pending again, or failed)."""
        def status(attempts: int) -> tuple[str, int | None]:
            if ok:
                return "sent", None
            if final or attempts >= self.cfg.retry.max_attempts:
                return "failed", None
            return "pending", now + int(self.cfg.retry.delay_s(attempts) * S)

        return self.db.record_attempt(delivery_id, ok, error, now, status)
