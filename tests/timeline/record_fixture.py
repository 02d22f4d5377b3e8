"""Record a real store as a timeline fixture, and load such a fixture into a fresh store.

Record one from the real keepalived pair (root; about 30 s):

    sudo .venv/bin/hamaster demo --json --dir /tmp/rec        # the store is /tmp/rec/store.db
    .venv/bin/python tests/timeline/record_fixture.py /tmp/rec/store.db fixtures/real_pair.yaml \\
        --note "hamaster demo: the seed's drill on keepalived 2.2.7 + nginx 1.22 in network namespaces"

The file is the scenario format (scenarios/*.yaml, read by scenario.py) with what a real store holds beyond
it, so nothing the timeline reads is lost:

    events      in store order (so ids come out the same); `t` node time, `arrived` master time;
                `vrrp: INSTANCE STATE PRIORITY` and `dup: SEQ` as in the scenarios, any other event as
                `kind`, `tag`, `inst`, `state`, `prio`, `data`; `src` always
    incidents   as in the scenarios (`data` whole); not kept: dedup_key and routed_ns (notify's bookkeeping)
    deliveries  as in the scenarios, plus `body`; targets are stored masked (apprise's privacy=True), and a
                target with a password in clear is refused, not written
    jobs        as in the scenarios (`changes` is the stored summary)

Times are moved by a whole number of hours to DAY, the first hour becoming 02:00 UTC: minutes, seconds and
gaps stay as recorded, and re-recording gives the same file. Times inside text move the same way:
"HH:MM:SS UTC", "YYYY-MM-DD HH:MM:SS UTC", job ids (YYYYMMDDHHMMSS-xxxxxx) and 19-digit ns-since-epoch
numbers (in incident data and keys). Fixture times are whole microseconds (what scenario.at reads).
"""

import argparse
import json
import re
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from scenario import at

from hamaster.core.events import Event, vrrp_tag
from hamaster.core.timeutil import to_datetime
from hamaster.master import store

DAY = "2024-05-14"
HOUR_NS = 3600 * 10**9
BASE_NS = at(DAY, "02:00:00")


# -- moving times ----------------------------------------------------------------------------------------
def _sub(pattern: str, fmt: str, shift: Callable[[datetime], datetime]) -> Callable[[str], str]:
    def move(m: re.Match[str]) -> str:
        return shift(datetime.strptime(m.group(0), fmt).replace(tzinfo=UTC)).strftime(fmt)

    regex = re.compile(pattern)
    return lambda text: regex.sub(move, text)


class Shift:
    """Moves every time of a recording by `delta_ns` (a whole number of hours)."""

    def __init__(self, delta_ns: int) -> None:
        self.delta_ns = delta_ns
        d = timedelta(hours=delta_ns // HOUR_NS)
        self._text = [
            _sub(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?= UTC)", "%Y-%m-%d %H:%M:%S", lambda t: t + d),
            _sub(r"(?<!\d )\b\d\d:\d\d:\d\d(?= UTC)", "%H:%M:%S", lambda t: t + d),
            _sub(r"\b\d{14}(?=-[0-9a-f]{6}\b)", "%Y%m%d%H%M%S", lambda t: t + d),
        ]
        self._ns = re.compile(r"\b1\d{18}\b")  # ns since epoch, 2001 to 2286; durations are never this long

    def ns(self, ns: int) -> int:
        return ns + self.delta_ns

    def hms(self, ns: int) -> str:
        """HH:MM:SS.ffffff on DAY (floored to the microsecond)."""
        moved = self.ns(ns)
        if not BASE_NS <= moved < BASE_NS + 22 * HOUR_NS:
            raise ValueError(f"a recording must span less than 22 hours (a time {moved - BASE_NS} ns from 02:00)")
        return to_datetime(moved // 1000 * 1000).strftime("%H:%M:%S.%f")

    def text(self, text: str) -> str:
        for move in self._text:
            text = move(text)
        return self._ns.sub(lambda m: str(self.ns(int(m.group(0)))), text)

    def value(self, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and 10**18 <= v < 10**19:
            return self.ns(v)
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v


# -- store -> fixture ------------------------------------------------------------------------------------
def _no_clear_password(target: str) -> str:
    password = urlsplit(target).password
    if password and set(password) != {"*"}:
        raise ValueError(f"a delivery target holds a password in clear: {urlsplit(target).scheme}://...")
    return target


def _event(s: Shift, row: tuple[Any, ...]) -> dict[str, Any]:
    minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data = row
    e: dict[str, Any] = {"t": s.hms(node_ns), "arrived": s.hms(master_ns), "node": minion, "seq": seq}
    extra = json.loads(data) if data else {}
    if kind == "vrrp" and instance and state and priority is not None and tag == vrrp_tag(instance, state) \
            and set(extra) <= {"duplicate_of"}:
        e["vrrp"] = f"{instance} {state} {priority}"
        e["src"] = source
        if extra:
            e["dup"] = extra["duplicate_of"]
        return e
    e.update(kind=kind, tag=tag, inst=instance, state=state, prio=priority, src=source, data=s.value(extra) or None)
    return {k: v for k, v in e.items() if v is not None}


def record(conn: sqlite3.Connection, note: str = "") -> str:
    """The fixture text for everything in the store at `conn`."""
    firsts = [conn.execute(f"SELECT MIN({col}) FROM {table}").fetchone()[0] for table, col in
              (("events", "node_ns"), ("events", "master_ns"), ("incidents", "started_ns"),
               ("deliveries", "created_ns"), ("jobs", "started_ns"))]
    first = min(t for t in firsts if t is not None)
    s = Shift(BASE_NS - first // HOUR_NS * HOUR_NS)
    events = [_event(s, r) for r in conn.execute(
        "SELECT minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data"
        " FROM events ORDER BY id")]
    incidents = []
    for iid, kind, inst, severity, start, end, nodes, summary, data, planned, job in conn.execute(
            "SELECT id, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned, job_id"
            " FROM incidents ORDER BY id"):
        i = {"id": iid, "kind": kind, "inst": inst, "severity": severity, "start": s.hms(start),
             "end": s.hms(end) if end else None, "nodes": json.loads(nodes), "summary": s.text(summary),
             "data": s.value(json.loads(data)) if data else None, "planned": bool(planned) or None,
             "job": s.text(job) if job else None}
        incidents.append({k: v for k, v in i.items() if v is not None})
    deliveries = []
    for did, inc, route, target, status, attempts, error, title, body, created, updated in conn.execute(
            "SELECT id, incident_id, route, target, status, attempts, last_error, title, body, created_ns,"
            " updated_ns FROM deliveries ORDER BY id"):
        d = {"id": did, "incident": inc, "route": route, "target": _no_clear_password(target), "status": status,
             "attempts": attempts, "error": s.text(error) if error else None, "created": s.hms(created),
             "updated": s.hms(updated), "title": title, "body": s.text(body) if body else None}
        deliveries.append({k: v for k, v in d.items() if v is not None})
    jobs = [{"jid": s.text(jid), "start": s.hms(start), "end": s.hms(end), "targets": json.loads(targets),
             "test": bool(test), "changes": json.loads(summary)} for jid, start, end, targets, test, summary in
            conn.execute("SELECT jid, started_ns, finished_ns, targets, test, summary FROM jobs ORDER BY jid")]

    def block(name: str, items: list[dict[str, Any]]) -> str:
        return f"{name}:\n" + "".join(_item(x) for x in items) if items else f"{name}: []\n"

    head = "".join(f"# {line}\n" for line in note.splitlines())
    head += "# Written by tests/timeline/record_fixture.py (see there); times moved to DAY, whole hours.\n"
    return (head + f'day: "{DAY}"\nclocks: {{}}\n' + block("events", events) + block("incidents", incidents)
            + block("deliveries", deliveries) + block("jobs", jobs))


class _Dumper(yaml.SafeDumper):
    """Text of several lines (alert bodies) as a literal block, as it reads."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s
                                                             else None))


def _item(x: dict[str, Any]) -> str:
    """One line per item, as the scenarios are written; an item holding text of several lines in block style."""
    if not any(isinstance(v, str) and "\n" in v for v in x.values()):
        return f"  - {yaml.safe_dump(x, default_flow_style=True, width=10**6, sort_keys=False).strip()}\n"
    text = yaml.dump([x], Dumper=_Dumper, default_flow_style=None, width=10**6, sort_keys=False)
    return "".join(f"  {line}\n" for line in text.splitlines())


# -- fixture -> store ------------------------------------------------------------------------------------
def load(path: Path, db: Path) -> dict[str, Any]:
    """Fill a fresh store at `db` from a recorded fixture; returns the parsed fixture."""
    fx = yaml.safe_load(path.read_text(encoding="utf-8"))
    day = fx["day"]

    def ns(hms: str | None) -> int | None:
        return at(day, hms) if hms else None

    conn = store.connect(db)
    try:
        for e in fx["events"]:
            if "vrrp" in e:
                inst, state, prio = e["vrrp"].split()
                ev = Event(e["seq"], at(day, e["t"]), "vrrp", vrrp_tag(inst, state), inst, state, int(prio),
                           e["src"], {"duplicate_of": e["dup"]} if "dup" in e else {})
            else:
                ev = Event(e["seq"], at(day, e["t"]), e["kind"], e["tag"], e.get("inst"), e.get("state"),
                           e.get("prio"), e["src"], e.get("data") or {})
            store.insert_events(conn, e["node"], at(day, e["arrived"]), [ev])
        conn.executemany(
            "INSERT INTO incidents (id, dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary,"
            " data, planned, job_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(i["id"], f"{i['kind']}:{i['id']}", i["kind"], i.get("inst"), i["severity"], ns(i["start"]),
              ns(i.get("end")), json.dumps(i["nodes"]), i["summary"], json.dumps(i["data"]) if "data" in i else None,
              int(i.get("planned", False)), i.get("job")) for i in fx["incidents"]])
        conn.executemany(
            "INSERT INTO deliveries (id, incident_id, route, target, status, attempts, last_error, title, body,"
            " created_ns, updated_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(d["id"], d["incident"], d["route"], d["target"], d["status"], d["attempts"], d.get("error"),
              d.get("title"), d.get("body"), ns(d["created"]), ns(d["updated"])) for d in fx["deliveries"]])
        conn.executemany(
            "INSERT INTO jobs (jid, started_ns, finished_ns, targets, test, summary) VALUES (?,?,?,?,?,?)",
            [(j["jid"], ns(j["start"]), ns(j["end"]), json.dumps(j["targets"]), int(j["test"]),
              json.dumps(j["changes"])) for j in fx["jobs"]])
        conn.commit()
    finally:
        conn.close()
    return fx


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write a store's rows as a timeline fixture (see the docstring).")
    p.add_argument("store", type=Path, help="the store.db to record (opened read-only)")
    p.add_argument("out", type=Path, help="the fixture to write, e.g. fixtures/real_pair.yaml")
    p.add_argument("--note", default="", help="what was recorded, written as the file's opening comment")
    args = p.parse_args(argv)
    conn = store.connect(args.store, readonly=True)
    try:
        args.out.write_text(record(conn, args.note), encoding="utf-8")
    finally:
        conn.close()
    print(f"{args.out}: recorded from {args.store}", file=sys.stderr)


if __name__ == "__main__":
    main()
