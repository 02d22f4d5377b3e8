"""`hamaster events` (the raw event stream) and `hamaster status` (the pair at a glance)."""

import fnmatch
import json
import sys
import time
from typing import Any

import click

from hamaster.core.config import load_master_config
from hamaster.core.errors import TransportError
from hamaster.core.timeutil import now_ns, to_datetime
from hamaster.master import store
from hamaster.master.cli import config_option


def event_json(se: store.StoredEvent) -> dict[str, Any]:
    e = se.event
    return {"id": se.id, "minion": se.minion, "seq": e.seq, "tag": e.tag, "kind": e.kind,
            "instance": e.instance, "state": e.state, "priority": e.priority, "source": e.source,
            "node_time": to_datetime(e.node_ns).isoformat(), "master_time": to_datetime(se.master_ns).isoformat(),
            "data": e.data}


def event_line(se: store.StoredEvent) -> str:
    e = se.event
    t = to_datetime(e.node_ns).isoformat(timespec="milliseconds")
    prio = f" prio={e.priority}" if e.priority is not None else ""
    return f"{t}  {se.minion:<12} {e.tag:<32} {e.source}{prio}"


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
        last_id = max(last_id, conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
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
        click.echo(json.dumps(event_json(se)) if as_json else event_line(se))


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def status(config_path: str | None, as_json: bool) -> None:
    """Per minion: online or last seen, each VRRP instance's state and priority, VIPs held."""
    from hamaster.master.cli import control

    cfg = load_master_config(config_path)
    conn = store.connect(cfg.store, readonly=True)
    try:
        vrrp = store.current_vrrp_states(conn)
        rows = conn.execute("SELECT id, last_seen_ns, dropped FROM minions")
        known = {m: (seen, dropped) for m, seen, dropped in rows}
        vips = _vips_held(conn)
    finally:
        conn.close()
    try:
        live = control.call(cfg, "status", timeout=2)
        master_up, live_minions, counters = True, live["minions"], live["counters"]
    except TransportError:
        master_up, live_minions, counters = False, {}, {}
    out: dict[str, Any] = {"master": "up" if master_up else "down", "counters": counters, "minions": {}}
    for m in sorted(set(known) | set(live_minions) | set(vrrp)):
        info = live_minions.get(m, {})
        seen = info.get("last_seen_ns") or known.get(m, (None, 0))[0]
        out["minions"][m] = {
            "online": bool(info.get("online")),
            "last_seen": to_datetime(seen).isoformat() if seen else None,
            "dropped": info.get("dropped", known.get(m, (None, 0))[1]),
            "spool": info.get("spool", "ok"),  # "disk full" while the minion's pings say so
            "instances": {i: {"state": s, "priority": p} for i, (s, p, _) in sorted(vrrp.get(m, {}).items())},
            "vips": sorted(vips.get(m, ())),
        }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"master: {out['master']}" + (f"  (frames dropped: {counters.get('dropped', 0)})" if counters else ""))
    for m, info in out["minions"].items():
        state = "online" if info["online"] else f"offline, last seen {info['last_seen'] or 'never'}"
        click.echo(f"{m}: {state}" + (f"  dropped={info['dropped']}" if info["dropped"] else "")
                   + (f"  spool {info['spool']}" if info["spool"] != "ok" else ""))
        known = "" if info["online"] else "last known "  # an offline node's word may be stale
        for inst, st in info["instances"].items():
            prio = st["priority"] if st["priority"] is not None else "?"
            click.echo(f"  {inst}: {known}{st['state']} (priority {prio})")
        if info["vips"]:
            click.echo(f"  {'held' if known else 'holds'} {', '.join(info['vips'])}")


def _vips_held(conn: Any) -> dict[str, set[str]]:
    """From the vip beacon's events (beacon/vip/<address>/held|lost), the last word per minion and address."""
    held: dict[str, set[str]] = {}
    for minion, tag in conn.execute(
        "SELECT minion, tag FROM events WHERE kind = 'beacon' AND tag LIKE 'beacon/vip/%' ORDER BY node_ns"
    ):
        _, _, addr, what = [*tag.split("/"), "", "", "", ""][:4]
        (held.setdefault(minion, set()).add if what == "held" else held.setdefault(minion, set()).discard)(addr)
    return held
