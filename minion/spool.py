"""The node's durable spool: every event accepted on the node lives here until each master has acked it.

The keepalived hook does not touch this database (SQLite is too slow to open in a process that keepalived
spawns on every transition): it drops one small file per event into `inbox/` (written, fsynced, renamed)
and the daemon moves inbox files into the spool. The daemon is the only writer. A sequence number is
given when an event enters the spool; the inbox file name is kept as `origin`, unique, so a crash between
the spool commit and the unlink of the file cannot make a second event of it.

A spool has an identity, made when its database is created and sent in every hello (grains `spool`): a
wiped or reinstalled spool is a new incarnation. Its numbering starts at its creation time in microseconds
(first_seq), not at 1, so the seqs of two incarnations of one minion never meet in the master's store, which
is unique on (minion, seq); its first event is `minion/spool/new`. A spool made before identities existed
keeps its numbering and gets an identity that says so (first_seq = where it was).

Inbox line format (one line, tab-separated, version first; version 2 adds notes as key=value fields):
    1  <node_ns>  <TYPE>  <NAME>  <STATE>  <PRIORITY or ->  <source>
    2  <node_ns>  <TYPE>  <NAME>  <STATE>  <PRIORITY or ->  <source>  [<key>=<value> ...]
"""

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hamaster.core.events import VRRP_STATES, VRRP_TYPES, Event, vrrp_tag

INBOX = "inbox"
WAKE = "wake"
SOURCE_MERGE_NS = 2_000_000_000  # the same transition seen by hook and FIFO within 2 s is one transition
RECENT = 8  # transitions per instance kept to match the other source's reports against
HOOK_RACE_NS = 1_000_000_000  # two hook transitions this close may have run in either order
SPOOL_NEW = "minion/spool/new"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    origin   TEXT UNIQUE,
    node_ns  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    tag      TEXT NOT NULL,
    instance TEXT,
    state    TEXT,
    priority INTEGER,
    source   TEXT NOT NULL,
    data     TEXT,
    acked    INTEGER NOT NULL DEFAULT 0   -- bit i set: master i has committed it
);
-- the last transition recorded per instance: folds hook+FIFO doubles, and lets reconciliation keep only news
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- spool_id, created_ns, first_seq
CREATE TABLE IF NOT EXISTS last_state (
    instance TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    source   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    node_ns  INTEGER NOT NULL
);
"""


@dataclass
class NewEvent:
    """An event before it has a sequence number."""

    node_ns: int
    kind: str
    tag: str
    instance: str | None = None
    state: str | None = None
    priority: int | None = None
    source: str = "hook"
    data: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None


INBOX_NOTES = ("fallback", "clock")  # what a version-2 line may add: why it is not in the spool, its time source


def parse_inbox_line(line: str, origin: str) -> NewEvent:
    parts = line.rstrip("\n").split("\t")
    if not ((parts[0] == "1" and len(parts) == 7) or (parts[0] == "2" and len(parts) >= 7)):
        raise ValueError(f"inbox file {origin}: not a version-1 or -2 event line")
    _, ns, vtype, name, state, prio, source = parts[:7]
    if vtype not in VRRP_TYPES or state not in VRRP_STATES or not name or source not in ("hook", "fifo"):
        raise ValueError(f"inbox file {origin}: bad fields {parts[2:7]}")
    data: dict[str, Any] = {"type": vtype} if vtype != "INSTANCE" else {}
    for note in parts[7:]:
        key, _, value = note.partition("=")
        if key not in INBOX_NOTES:
            raise ValueError(f"inbox file {origin}: unknown note {key!r}")
        data[key] = value
    priority = None if prio == "-" else int(prio)
    return NewEvent(int(ns), "vrrp", vrrp_tag(name, state), name, state, priority, source, data, origin)


class Spool:
    def __init__(self, directory: Path, n_masters: int = 1) -> None:
        self.dir = directory
        self.inbox = directory / INBOX
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.all_acked = (1 << n_masters) - 1
        self.db = sqlite3.connect(directory / "spool.db", timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self.identity = self._identity()
        self.hooks_raced = False  # set by add(); the daemon clears it when it has asked for a reconciliation
        self.stale_dumps = 0  # reconciliations not used: the dump was older than the last transition recorded
        self._stuck: set[str] = set()  # inbox files that could not be removed after they were spooled
        # instance -> its VRID, VIPs... (the node's keepalived.conf), added to its vrrp events; None: unknown
        self.describe: Callable[[str], dict[str, Any] | None] = lambda instance: None
        # per instance, the last few transitions: [state, source, seq, node_ns, matched by the other source]
        self._recent: dict[str, list[list[Any]]] = {}
        self._last: dict[str, tuple[str, str, int, int]] = {
            inst: (state, source, seq, ns)
            for inst, state, source, seq, ns in self.db.execute("SELECT * FROM last_state")
        }

    def _identity(self) -> dict[str, Any]:
        """This spool's identity: made once, when the database is new (see the module docstring)."""
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if "spool_id" not in meta:
            created = time.time_ns()
            used = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
            first_seq = used[0] + 1 if used else created // 1000
            meta = {"spool_id": os.urandom(8).hex(), "created_ns": str(created), "first_seq": str(first_seq)}
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                if not used:  # a new incarnation: numbered from its birth, and its first event says so
                    self.db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)", (first_seq - 1,))
                    self.db.execute(
                        "INSERT INTO spool (node_ns, kind, tag, source, data) VALUES (?, 'minion', ?, 'minion', ?)",
                        (created, SPOOL_NEW, json.dumps({"spool": meta["spool_id"]})))
        return {"id": meta["spool_id"], "created_ns": int(meta["created_ns"]), "first_seq": int(meta["first_seq"])}

    def _twin(self, ev: NewEvent) -> int | None:
        """The seq of the transition the other source (hook or FIFO) reported a moment ago, if `ev` repeats it.

        keepalived runs notify scripts concurrently and without waiting, so a hook may come after later
        transitions (its BACKUP hook before its MASTER hook); the FIFO is written in order. So a report is
        matched against each recent transition not yet matched, not only the last one."""
        for entry in self._recent.get(ev.instance or "", []):
            state, source, seq, node_ns, matched = entry
            if not matched and state == ev.state and source != ev.source and \
                    abs(node_ns - ev.node_ns) < SOURCE_MERGE_NS:
                entry[4] = True
                return seq
        return None

    def close(self) -> None:
        self.db.close()

    def add(self, events: list[NewEvent]) -> list[int]:
        """Give each event its sequence number and commit. Returns the new seqs.

        All or nothing: when the commit fails (a full disk), the database and what this object remembers are
        as before, and the same events can be added again later."""
        saved = dict(self._last), {k: [list(e) for e in v] for k, v in self._recent.items()}, self.hooks_raced
        try:
            seqs = [seq for ev in sorted(events, key=lambda e: e.node_ns) if (seq := self._add_one(ev)) is not None]
            self.db.commit()
        except BaseException:
            self.db.rollback()
            self._last, self._recent, self.hooks_raced = saved
            raise
        return seqs

    def _add_one(self, ev: NewEvent) -> int | None:
        data = ev.data
        if ev.kind == "vrrp" and ev.instance:
            described = self.describe(ev.instance)
            if described:  # what the event says itself (a dump's VIPs) wins
                data = {**described, **data}
            prev = self._last.get(ev.instance)
            if ev.source == "reconcile":
                if prev and ev.node_ns <= prev[3]:
                    self.stale_dumps += 1  # keepalived wrote it before our last transition: it cannot correct it
                    return None
                if prev and prev[0] == ev.state:
                    return None  # keepalived agrees with what we recorded: nothing was missed
                data = {**data, "missed_after": prev[0] if prev else None}
            else:
                twin = self._twin(ev)
                if twin is not None:
                    data = {**data, "duplicate_of": twin}
        cur = self.db.execute(
            "INSERT OR IGNORE INTO spool (origin, node_ns, kind, tag, instance, state, priority, source, data)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (ev.origin, ev.node_ns, ev.kind, ev.tag, ev.instance, ev.state, ev.priority, ev.source,
             json.dumps(data) if data else None),
        )
        if not cur.rowcount:
            return None
        seq = cur.lastrowid
        assert seq is not None
        if ev.kind == "vrrp" and ev.instance and "duplicate_of" not in data:
            self._last[ev.instance] = last = (ev.state or "", ev.source, seq, ev.node_ns)
            self.db.execute("INSERT OR REPLACE INTO last_state VALUES (?,?,?,?,?)", (ev.instance, *last))
            recent = self._recent.setdefault(ev.instance, [])
            if ev.source == "hook" and recent and ev.node_ns - recent[-1][3] < HOOK_RACE_NS:
                self.hooks_raced = True  # concurrent hooks may have swapped: ask keepalived (beacons)
            recent.append([ev.state or "", ev.source, seq, ev.node_ns, False])
            del recent[:-RECENT]
        return seq

    def ingest_inbox(self, inbox: Path | None = None, origin_prefix: str = "") -> tuple[list[int], list[str]]:
        """Move the hook's inbox files (of `inbox`, default the spool's own) into the spool.
        Returns (new seqs, complaints about bad files)."""
        events, files, bad = [], [], []
        try:
            it = os.scandir(inbox or self.inbox)
        except FileNotFoundError:
            return [], []
        with it:
            for entry in it:
                if not entry.name.endswith(".ev") or entry.path in self._stuck:
                    continue
                files.append(entry.path)
                try:
                    with open(entry.path, newline="") as f:  # keep a \r in a name as it is
                        events.append(parse_inbox_line(f.read(), origin_prefix + entry.name))
                except (OSError, ValueError, UnicodeDecodeError) as exc:
                    bad.append(str(exc))
        seqs = self.add(events) if events else []
        for path in files:  # only after the commit: a crash before this line re-ingests, INSERT OR IGNORE absorbs it
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:  # a file we may not remove (another user's fallback spool): say it once
                self._stuck.add(path)
                bad.append(f"cannot remove {path} ({exc.strerror}): it is kept, and not read again")
        return seqs, bad

    def unacked(self, master: int, after_seq: int = 0, limit: int = 1000) -> Iterator[Event]:
        bit = 1 << master
        for row in self.db.execute(
            "SELECT seq, node_ns, kind, tag, instance, state, priority, source, data FROM spool"
            " WHERE seq > ? AND (acked & ?) = 0 ORDER BY seq LIMIT ?",
            (after_seq, bit, limit),
        ):
            yield Event(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                        json.loads(row[8]) if row[8] else {})

    def ack(self, master: int, seq_ranges: list[list[int]]) -> None:
        bit = 1 << master
        try:
            self.db.executemany("UPDATE spool SET acked = acked | ? WHERE seq BETWEEN ? AND ?",
                                [(bit, lo, hi) for lo, hi in seq_ranges])
            # AUTOINCREMENT never hands out a deleted seq again, so acked rows can go at once
            self.db.execute("DELETE FROM spool WHERE acked = ?", (self.all_acked,))
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    def backlog(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM spool WHERE acked != ?", (self.all_acked,)).fetchone()[0]
