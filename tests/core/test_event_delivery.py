"""Events travel hook -> spool -> master -> store exactly once, whatever dies on the way."""

import json
import os
import signal
import threading
import time

from sitelib import Site, wait_for


def stored(site: Site, minion: str) -> list[tuple]:
    sql = "SELECT seq, instance, state, node_ns, source FROM events WHERE kind = 'vrrp' AND minion = ? ORDER BY seq"
    return site.query(sql, minion)


def test_1000_hooks_from_two_minions_are_stored_once_and_in_order(site: Site) -> None:
    site.start_master()
    for m in ("node1", "node2"):
        site.start_minion(m)
    per_minion = 500

    def fire(minion: str) -> None:
        for i in range(per_minion):  # one after the other, as keepalived's transitions come
            assert site.hook(minion, "INSTANCE", f"VI_{i}", ("MASTER", "BACKUP")[i % 2], "100").returncode == 0

    threads = [threading.Thread(target=fire, args=(m,)) for m in ("node1", "node2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    wait_for(lambda: site.count() == 2 * per_minion, 30, "1000 stored events")
    for m in ("node1", "node2"):
        rows = stored(site, m)
        assert [r[1] for r in rows] == [f"VI_{i}" for i in range(per_minion)]  # seq order is firing order
        assert [r[0] for r in rows] == sorted({r[0] for r in rows})  # unique seqs
        assert [r[3] for r in rows] == sorted(r[3] for r in rows)  # node time agrees with seq
    distinct = "SELECT COUNT(*) FROM (SELECT DISTINCT minion, seq FROM events WHERE kind = 'vrrp')"
    assert site.count(distinct) == 2 * per_minion


def test_kill_9_master_during_10000_events_loses_and_doubles_nothing(site: Site) -> None:
    fifo = site.start_with_fifo("node1")
    master = site.master_proc
    assert master is not None
    n = 10_000
    fd = os.open(fifo, os.O_WRONLY)
    try:
        for i in range(n):
            os.write(fd, f'INSTANCE "VI_{i}" {("MASTER", "BACKUP")[i % 2]} 100\n'.encode())
            if i == n // 4:
                wait_for(lambda: site.count() > 0, 10, "the first events stored")
                master.send_signal(signal.SIGKILL)
                master.wait(timeout=10)
    finally:
        os.close(fd)
    time.sleep(0.5)
    assert site.count() < n  # the master really died mid-stream
    site.start_master()
    wait_for(lambda: site.count() == n, 60, f"{n} events after the restart")
    time.sleep(1)  # resends still in flight must be absorbed, not stored
    assert site.count() == n
    rows = site.query("SELECT instance FROM events WHERE kind = 'vrrp' AND minion = 'node1' ORDER BY seq")
    instances = [r[0] for r in rows]
    assert instances == [f"VI_{i}" for i in range(n)]


def test_hooks_fired_while_the_minion_is_down_arrive_with_their_node_times(site: Site) -> None:
    site.start_master()
    fired = []
    for i in range(100):
        before = time.time_ns()
        assert site.hook("node1", "INSTANCE", f"VI_{i}", "FAULT").returncode == 0
        fired.append((before, time.time_ns()))
    time.sleep(0.5)
    assert site.count() == 0
    site.start_minion("node1")
    wait_for(lambda: site.count() == 100, 20, "100 spooled events")
    for (_, instance, state, node_ns, source), (before, after) in zip(stored(site, "node1"), fired, strict=True):
        assert before <= node_ns <= after, f"{instance}: node time is the hook's, not the delivery's"
        assert (state, source) == ("FAULT", "hook")


def test_fifo_lines_become_events_across_a_keepalived_restart(site: Site) -> None:
    fifo = site.start_with_fifo("node1")
    # keepalived opens the FIFO, writes, and closes it when it stops; a new keepalived opens it again
    with open(fifo, "w") as f:
        f.write('INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\n')
    with open(fifo, "w") as f:
        f.write('INSTANCE "VI_1" STOP 100\nthis is not keepalived\nGROUP "VG_1" MASTER\n')
    wait_for(lambda: site.count() == 4, 10, "four FIFO events")
    rows = site.query("SELECT instance, state, priority, source FROM events WHERE kind = 'vrrp' ORDER BY seq")
    assert rows == [("VI_1", "BACKUP", 100, "fifo"), ("VI_1", "MASTER", 100, "fifo"),
                    ("VI_1", "STOP", 100, "fifo"), ("VG_1", "MASTER", None, "fifo")]


def test_a_transition_seen_by_hook_and_fifo_is_one_transition(site: Site) -> None:
    fifo = site.start_with_fifo("node1")
    with open(fifo, "w") as f:
        f.write('INSTANCE "VI_1" MASTER 100\n')
    site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    wait_for(lambda: site.count() == 2, 10, "both records")
    (first_seq, first_src, _), (_, _, second_data) = site.query(
        "SELECT seq, source, data FROM events WHERE kind = 'vrrp' ORDER BY seq")
    assert first_src == "fifo"
    assert f'"duplicate_of":{first_seq}' in second_data.replace(" ", "")


def test_a_sync_groups_transition_from_hook_and_fifo_is_one_group_transition(site: Site) -> None:
    # keepalived's `notify` of a vrrp_sync_group runs `HOOK GROUP VG_1 MASTER` (no priority); its FIFO line
    # says GROUP too: both are the group's, marked so (the correlator keeps groups of groups apart)
    fifo = site.start_with_fifo("node1")
    with open(fifo, "w") as f:
        f.write('GROUP "VG_1" MASTER\n')
    site.hook("node1", "GROUP", "VG_1", "MASTER")
    wait_for(lambda: site.count() == 2, 10, "both records")
    (first, fifo_data), (_, hook_data) = site.query(
        "SELECT seq, data FROM events WHERE kind = 'vrrp' ORDER BY seq")
    assert json.loads(fifo_data) == {"type": "GROUP"}
    assert json.loads(hook_data) == {"type": "GROUP", "duplicate_of": first}
