"""`hamaster events` (the raw event stream) and `hamaster status` (the pair at a glance)."""

import fnmatch
import json
import math
import sys
import time
from typing import Any

import click

from hamaster.core.config import load_master_config
from hamaster.core.errors import StoreError, TransportError
from hamaster.core.timeutil import now_ns, to_datetime
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.correlate import preemption
from hamaster.master.store import events as stored_events
from hamaster.master.store import minions as stored_minions
from hamaster.master.store import outbox as stored_outbox


def event_json(se: store.StoredEvent) -> dict[str, Any]:
    e = se.event
    return {"id": se.id, "minion": se.minion, "seq": e.seq, "tag": e.tag, "kind": e.kind,
            "instance": e.instance, "state": e.state, "priority": e.priority, "source": e.source,
            "node_time": to_datetime(e.node_ns).isoformat(), "master_time": to_datetime(se.master_ns).isoformat(),
            "data": _finite(e.data)}


def _finite(value: Any) -> Any:
    """NaN and infinities (stored before the protocol refused them) as null: JSON has no word for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}


def printable(text: str) -> str:
    """Control characters (terminal escapes, CR, NUL ...) as \\xNN: a name must not drive the terminal."""
    return text.translate(_CONTROL)


def event_line(se: store.StoredEvent) -> str:
    e = se.event
    t = to_datetime(e.node_ns).isoformat(timespec="milliseconds")
    prio = f" prio={e.priority}" if e.priority is not None else ""
    return f"{t}  {printable(se.minion):<12} {printable(e.tag):<32} {printable(e.source)}{prio}"


@click.command()
@config_option
@click.option("--tag", "tag_glob", default="*", show_default=True, help="only events whose tag matches (glob)")
@click.option("--since", "since_s", type=float, default=3600, show_default=True, help="seconds back to start")
@click.option("-f", "--follow", is_flag=True, help="keep printing new events as they are stored")
@click.option("--json", "as_json", is_flag=True, help="JSON lines")
def events(config_path: str | None, tag_glob: str, since_s: float, follow: bool, as_json: bool) -> None:
    """Print stored events (node time order), then with --follow new ones as they arrive."""
    cfg = load_master_config(config_path)
    conn = store.connect(cfg.store, readonly=True)
    try:
        last_id = 0
        for se in store.query_events(conn, since_ns=now_ns() - int(since_s * 1e9)):
            last_id = max(last_id, se.id)
            _print(se, tag_glob, as_json)
        if not follow:
            return
        last_id = max(last_id, stored_events.last_id(conn))
        while True:
            for se in store.query_events(conn, after_id=last_id, limit=10_000):
                last_id = se.id
                _print(se, tag_glob, as_json)
            sys.stdout.flush()  # a pipe (| jq, | grep) must see each event as it comes, not a block at a time
            time.sleep(0.2)
    finally:
        conn.close()


def _print(se: store.StoredEvent, tag_glob: str, as_json: bool) -> None:
    if fnmatch.fnmatchcase(se.event.tag, tag_glob):
        click.echo(json.dumps(event_json(se), allow_nan=False) if as_json else event_line(se))


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def status(config_path: str | None, as_json: bool) -> None:
    """Per minion: online or last seen, each VRRP instance's state and priority, VIPs held."""
    from hamaster.master.cli import control

    cfg = load_master_config(config_path)
    try:  # first: a user who may not ask the master must hear that, not "down" nor the store's refusal
        live = control.call(cfg, "status", timeout=2)
        master_up, live_minions, counters = True, live["minions"], live["counters"]
    except control.Unreachable:
        raise  # running, maybe, but not ours to ask (permission)
    except TransportError:
        master_up, live_minions, counters, live = False, {}, {}, {}
    conn = store.connect(cfg.store, readonly=True)
    try:
        vrrp = store.current_vrrp_states(conn)
        known = stored_minions.liveness(conn)
        vips = _vips_held(conn)
        failed, last_failed = stored_outbox.failed_critical(conn)
        drained = _drained(conn)
        priorities, configs = stored_events.priority_beacons(conn), _configs(conn)
    finally:
        conn.close()
    out: dict[str, Any] = {"master": "up" if master_up else "down", "counters": counters,
                           "refused": live.get("refused", {}), "store": live.get("store", {}), "minions": {},
                           "alerts": {"failed_critical": failed}}
    if last_failed is not None:
        did, iid, kind, instance, route, target, error, at = last_failed
        out["alerts"]["last_failed_critical"] = {
            "delivery": did, "incident": iid, "kind": kind, "instance": instance, "route": route,
            "target": target, "error": error, "at": to_datetime(at).isoformat()}
    for m in sorted(set(known) | set(live_minions) | set(vrrp)):
        info = live_minions.get(m, {})
        seen = info.get("last_seen_ns") or known.get(m, (None, 0))[0]
        out["minions"][m] = {
            "online": bool(info.get("online")),
            "last_seen": to_datetime(seen).isoformat() if seen else None,
            "dropped": info.get("dropped", known.get(m, (None, 0))[1]),
            "reconcile_skipped": info.get("reconcile_skipped", 0),
            "spool": info.get("spool", "ok"),  # "disk full" while the minion's pings say so
            "instances": {i: {"state": s, "priority": p} for i, (s, p, _) in sorted(vrrp.get(m, {}).items())},
            "vips": sorted(vips.get(m, ())),
            "drained": m in drained,  # `hamaster drain`: its VIPs moved away on purpose
        }
    believed = {m: info["online"] for m, info in out["minions"].items()} if master_up else {}
    out["preemption"] = [p.to_dict() for p in preemption.site(vrrp, priorities, configs, believed, now_ns(),
                                                               cfg.correlator)]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"master: {out['master']}" + (f"  (frames dropped: {counters.get('dropped', 0)})" if counters else ""))
    if out["store"].get("writable") is False:
        since = to_datetime(out["store"]["full_since_ns"]).isoformat(timespec="seconds")
        click.echo(f"store: FULL since {since} ({out['store']['error']}): not acking, minions keep their events")
    if failed:  # nobody got these alerts where they were meant to go: say so before anything else
        last = out["alerts"]["last_failed_critical"]
        click.echo(f"alerts: {failed} deliveries of critical incidents FAILED; latest: incident #{last['incident']}"
                   f" ({printable(last['kind'])} {printable(last['instance'] or '')}) to {printable(last['target'])}"
                   f" on route {printable(last['route'])}: {printable(last['error'] or '?')}"
                   f" (hamaster timeline --incident {last['incident']})")
    if out["refused"]:
        click.echo("refused: " + ", ".join(f"{reason} {n}" for reason, n in sorted(out["refused"].items())))
    for m, info in out["minions"].items():
        state = "online" if info["online"] else f"offline, last seen {info['last_seen'] or 'never'}"
        click.echo(f"{printable(m)}: {state}" + (f"  dropped={info['dropped']}" if info["dropped"] else "")
                   + (f"  dumps skipped={info['reconcile_skipped']}" if info["reconcile_skipped"] else "")
                   + (f"  spool {printable(info['spool'])}" if info["spool"] != "ok" else "")
                   + (f"  drained (`hamaster undrain {printable(m)}` puts it back)" if info["drained"] else ""))
        stale = "" if info["online"] else "last known "  # an offline node's word may be stale
        for inst, st in info["instances"].items():
            prio = st["priority"] if st["priority"] is not None else "?"
            click.echo(f"  {printable(inst)}: {stale}{st['state']} (priority {prio})")
        if info["vips"]:
            click.echo(f"  {'held' if stale else 'holds'} {', '.join(info['vips'])}")
    for p in out["preemption"]:  # nopreempt / preempt_delay: who holds it is not who would
        word = {"held_by_choice": "held by choice", "pending": "preemption pending"}.get(p["kind"], "OVERDUE")
        click.echo(f"preemption: {word}: {printable(p['summary'])}")


def _configs(conn: store.Connection) -> dict[str, dict[str, Any]]:
    from hamaster.master.store import drills

    return drills.keepalived_configs(conn)


def _drained(conn: store.Connection) -> set[str]:
    from hamaster.master.store import drills

    try:
        return {m for m, mark in drills.drained_now(conn).items() if mark.drained}
    except StoreError:  # a store from before drains (read-only: the master makes the table when it starts)
        return set()


def _vips_held(conn: store.Connection) -> dict[str, set[str]]:
    """From the vip beacon's events (beacon/vip/<address>/held|lost), the last word per minion and address."""
    held: dict[str, set[str]] = {}
    for minion, tag in stored_events.vip_beacons(conn):
        _, _, addr, what = [*tag.split("/"), "", "", "", ""][:4]
        (held.setdefault(minion, set()).add if what == "held" else held.setdefault(minion, set()).discard)(addr)
    return held
