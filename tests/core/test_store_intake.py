"""The intake transaction waits for another writer instead of failing (SQLite's stale-snapshot trap)."""

import sqlite3
import threading
import time
from pathlib import Path

from hamaster.core.events import Event
from hamaster.master import store


def test_intake_waits_for_a_writer_that_commits_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    master = store.connect(path)
    other = sqlite3.connect(path, timeout=10, check_same_thread=False)  # as the notifier's connection
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO silences (starts_ns, ends_ns, created_ns) VALUES (1, 2, 3)")

    def commit_soon() -> None:
        time.sleep(0.3)
        other.commit()

    writer = threading.Thread(target=commit_soon)
    writer.start()
    try:
        event = Event(1, 10, "vrrp", "vrrp/VI_1/MASTER", "VI_1", "MASTER", 100, "hook")
        # a round without greetings used to open a deferred transaction, read, then fail to write
        new = store.store_intake(master, 20, {}, {"node1": [event]})
    finally:
        writer.join()
        other.close()
    assert [(e.minion, e.event.seq) for e in new] == [("node1", 1)]
    master.close()
