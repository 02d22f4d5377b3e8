"""Load a scenario file (scenarios/*.yaml) into a real event store on disk.

Events go in through store.insert_events, as the master's intake does; incidents, deliveries and jobs are
written as the correlator, notify/ and the job runner write them. In a scenario, `t` is when a thing really
happened (UTC, on `day`); a node's event is stamped with its own clock (`clocks`, seconds off) and reaches the
master 3 ms later unless `arrived` says when (a spool flushed after an outage).
"""

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hamaster.core.events import Event, vrrp_tag
from hamaster.core.timeutil import from_datetime
from hamaster.master import store

HERE = Path(__file__).parent
TRANSIT_NS = 3_000_000


def at(day: str, hms: str) -> int:
    return from_datetime(datetime.fromisoformat(f"{day}T{hms}+00:00"))


def _event(day: str, clocks: dict[str, float], e: dict[str, Any]) -> tuple[str, int, Event]:
    node, true_ns = e["node"], at(day, e["t"])
    node_ns = true_ns + int(clocks.get(node, 0) * 1e9)
    master_ns = at(day, e["arrived"]) if "arrived" in e else true_ns + TRANSIT_NS
    data = {"duplicate_of": e["dup"]} if "dup" in e else {}
    if "vrrp" in e:
        instance, state, prio = e["vrrp"].split()
        ev = Event(e["seq"], node_ns, "vrrp", vrrp_tag(instance, state), instance, state, int(prio), e["src"], data)
    elif "beacon" in e:  # a probe's beacon says who answered (state) on which VIP (data.vip)
        extra = {"vip": e["vip"]} if "vip" in e else {}
        ev = Event(e["seq"], node_ns, "beacon", f"beacon/{e['beacon']}", state=e.get("state"), source="beacon",
                   data={**data, **extra})
    else:
        ev = Event(e["seq"], node_ns, "minion", f"minion/{e['minion']}", source="minion")
    return node, master_ns, ev


def load(name: str, db: Path) -> dict[str, Any]:
    """Fill the store at `db` from scenarios/<name>.yaml; returns the parsed scenario."""
    sc = yaml.safe_load((HERE / "scenarios" / f"{name}.yaml").read_text())
    day, clocks = sc["day"], sc.get("clocks") or {}
    conn = store.connect(db)
    try:
        for e in sc["events"]:
            node, master_ns, ev = _event(day, clocks, e)
            store.insert_events(conn, node, master_ns, [ev])
        _derived(conn, day, sc)
        conn.commit()
    finally:
        conn.close()
    return sc


def _derived(conn: sqlite3.Connection, day: str, sc: dict[str, Any]) -> None:
    for i in sc.get("incidents") or []:
        conn.execute(
            "INSERT INTO incidents (id, dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary,"
            " data, planned, job_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (i["id"], f"{i['kind']}:{i['id']}", i["kind"], i.get("inst"), i["severity"], at(day, i["start"]),
             at(day, i["end"]) if i.get("end") else None, json.dumps(i["nodes"]), i["summary"],
             json.dumps(i["data"]) if i.get("data") else None, int(i.get("planned", False)), i.get("job")))
    for d in sc.get("deliveries") or []:
        conn.execute(
            "INSERT INTO deliveries (id, incident_id, route, target, status, attempts, last_error, title, body,"
            " created_ns, updated_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (d["id"], d["incident"], d["route"], d["target"], d["status"], d["attempts"], d.get("error"),
             d.get("title"), d.get("title"), at(day, d["created"]), at(day, d["updated"])))
    for j in sc.get("jobs") or []:
        conn.execute(
            "INSERT INTO jobs (jid, started_ns, finished_ns, targets, test, summary) VALUES (?,?,?,?,?,?)",
            (j["jid"], at(day, j["start"]), at(day, j["end"]), json.dumps(j["targets"]), int(j.get("test", False)),
             json.dumps(j["changes"])))
