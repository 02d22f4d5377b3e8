"""Alerts delivered for real: the correlator derives incidents from stored events, the Notifier routes
them and apprise sends them to receivers listening on 127.0.0.1 (HTTP for json://, aiosmtpd for mailto://)."""

import functools
import sqlite3
import time
from pathlib import Path
from typing import Any

from feeder import Feeder
from scenarios import SCENARIOS
from sitelib import wait_for

from hamaster.core.events import Event
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store import incidents
from hamaster.master.store.outbox import open_outbox
from hamaster.notify import Notifier

FAST_RETRY = {"backoff_s": 0.05, "max_backoff_s": 0.2, "max_attempts": 100}


def settings(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"targets": [{"url": u, "tags": ["ops"]} for u in urls], "retry": FAST_RETRY, **extra}


def notifier(store_path: Path, section: dict[str, Any], tmp_path: Path) -> Notifier:
    n = Notifier(section, functools.partial(open_outbox, store_path), tmp_path / "master.yaml")
    n.start()
    return n


def play(conn: sqlite3.Connection, n: Notifier, scenario: str) -> Feeder:
    """Run a scenario in the present (so nothing counts as old news) and submit what it derives."""
    feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10), t0=now_ns() - 60 * 10**9)
    feeder.run(SCENARIOS[scenario][0])
    n.submit(feeder.new)
    return feeder


def attempts(conn: sqlite3.Connection) -> list[tuple[int, str | None]]:
    return conn.execute("SELECT ok, error FROM delivery_attempts ORDER BY id").fetchall()


def test_failover_mail_reaches_a_real_smtp_server(conn, store_path, tmp_path, smtp_receiver) -> None:
    n = notifier(store_path, settings(smtp_receiver.url), tmp_path)
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        (mail,) = wait_for(lambda: smtp_receiver.messages, what="the failover mail")
    finally:
        n.stop()
    assert mail["Subject"] == "[warning] VI_1 moved node1 -> node2 in 600 ms"
    assert mail["To"] == "ops@example.com"
    body = mail.get_body(("plain",)).get_content()
    assert "VI_1 moved from node1 to node2; no node held it for 600 ms." in body
    assert "Cause on node1's side: node1 FAULT (priority 101)." in body
    assert "Priorities: node1 101, node2 100." in body
    assert "hamaster timeline --incident 1" in body


def test_failover_chat_message_reaches_a_json_receiver_once(conn, store_path, tmp_path, http_receiver) -> None:
    n = notifier(store_path, settings(http_receiver.url), tmp_path)
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: conn.execute("SELECT 1 FROM deliveries WHERE status = 'sent'").fetchone())
    finally:
        n.stop()
    (msg,) = http_receiver.messages
    assert msg["title"] == "[warning] VI_1 moved node1 -> node2 in 600 ms" and msg["type"] == "warning"
    assert "node1 FAULT" in msg["message"]


def test_silent_node_failover_is_one_alert_naming_the_silent_node(conn, store_path, tmp_path, http_receiver) -> None:
    n = notifier(store_path, settings(http_receiver.url, group_wait_s=0.5), tmp_path)
    try:
        play(conn, n, "node1_silent_while_node2_takes_over")
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM incidents WHERE routed_ns IS NULL").fetchone()[0] == 0
                 and http_receiver.messages, what="both incidents routed, the failover sent")
        time.sleep(0.5)
    finally:
        n.stop()
    (failover,) = http_receiver.messages  # the node_silent alert is folded into it
    assert " moved node1 -> node2" in failover["title"] and "node1 silent" in failover["message"]
    (why,) = conn.execute("SELECT d.last_error FROM deliveries d JOIN incidents i ON i.id = d.incident_id"
                          " WHERE i.kind = 'node_silent'").fetchone()
    assert why.startswith("folded into failover #")


def test_a_silent_node_with_no_failover_is_alerted_after_the_group_wait(conn, store_path, tmp_path,
                                                                        http_receiver) -> None:
    n = notifier(store_path, settings(http_receiver.url, group_wait_s=0.5), tmp_path)
    try:
        silent = incidents.insert(conn, Incident("node_silent", None, now_ns(), "node2 silent: no heartbeat for 10 s",
                                                 "node_silent:node2:1", nodes=["node2"], severity="warning"))
        conn.commit()
        assert silent is not None
        n.submit([silent])
        wait_for(lambda: http_receiver.messages, what="the node_silent alert")
    finally:
        n.stop()
    assert "node2" in http_receiver.messages[0]["title"]


def test_split_brain_alert_then_recovered(conn, store_path, tmp_path, http_receiver) -> None:
    n = notifier(store_path, settings(http_receiver.url), tmp_path)
    try:
        play(conn, n, "two_masters_then_heal")
        wait_for(lambda: len(http_receiver.messages) == 2, what="split brain and recovered")
    finally:
        n.stop()
    assert http_receiver.titles() == ["[critical] VI_1 split brain: node1 and node2 are both MASTER",
                                      "[resolved] VI_1: back to one MASTER (node1)"]
    assert "The problem lasted 15 s." in http_receiver.messages[1]["message"]


def test_flapping_storm_is_one_flapping_alert_and_a_summary(conn, store_path, tmp_path, http_receiver) -> None:
    n = notifier(store_path, settings(http_receiver.url), tmp_path)
    try:
        play(conn, n, "twenty_transitions_in_ten_seconds")
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
                 .fetchone()[0] == 0
                 and conn.execute("SELECT COUNT(*) FROM incidents WHERE routed_ns IS NULL").fetchone()[0] == 0)
    finally:
        n.stop()
    titles = http_receiver.titles()
    assert sum("is flapping" in t for t in titles) == 1
    assert titles[-1] == "[resolved] VI_1: back to one MASTER (node1)"
    assert "calm again after 20 transitions" in http_receiver.messages[-1]["message"]


def test_receiver_down_then_up_gets_the_alert_and_failures_are_recorded(conn, store_path, tmp_path,
                                                                       http_receiver) -> None:
    http_receiver.down()
    n = notifier(store_path, settings(http_receiver.url.replace("/hook", "/hook?token=s3cr3tT0ken")), tmp_path)
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: len(attempts(conn)) >= 3, what="three failed attempts")
        http_receiver.up()
        wait_for(lambda: http_receiver.messages, what="the alert after the receiver came back")
        wait_for(lambda: attempts(conn)[-1][0] == 1, what="the successful attempt recorded")
    finally:
        n.stop()
    *failed, last = attempts(conn)
    assert last == (1, None)
    assert failed and all(a == 0 and e for a, e in failed), failed
    assert not any("s3cr3tT0ken" in e for _, e in failed)
    (status, count) = conn.execute("SELECT status, attempts FROM deliveries").fetchone()
    assert (status, count) == ("sent", len(failed) + 1)


def test_a_hung_receiver_never_holds_up_intake(conn, store_path, tmp_path, http_receiver) -> None:
    """While the receiver holds the alert, 10,000 events are stored and correlated; then it goes out."""
    http_receiver.hang()
    n = notifier(store_path, settings(http_receiver.url), tmp_path)
    try:
        feeder = play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(http_receiver.entered.is_set, what="the alert to reach the hung receiver")
        seq = feeder.seq["node2"]
        for batch in range(10):
            events = [Event(seq + batch * 1000 + i + 1, now_ns(), "beacon", "beacon/nginx/up") for i in range(1000)]
            n.submit(feeder.c.feed(store.insert_events(conn, "node2", now_ns(), events)))
            conn.commit()
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 10_004
        assert http_receiver.messages == []
        http_receiver.release()
        wait_for(lambda: http_receiver.messages, what="the alert after release")
    finally:
        n.stop()
    assert " moved node1 -> node2" in http_receiver.titles()[0]


def test_incident_committed_but_never_routed_is_sent_after_restart(conn, store_path, tmp_path, http_receiver) -> None:
    incidents.insert(conn, Incident("node_silent", None, now_ns() - 10**9, "node1 silent: no heartbeat for 10 s",
                                    "node_silent:node1:1", nodes=["node1"]))
    conn.commit()  # ... and the master died before submit()
    n = notifier(store_path, settings(http_receiver.url), tmp_path)
    try:
        wait_for(lambda: http_receiver.messages, what="the leftover alert")
    finally:
        n.stop()
    assert http_receiver.titles() == ["[warning] node silent: node1"]


def test_template_error_at_send_time_falls_back_to_plain(conn, store_path, tmp_path, http_receiver, caplog) -> None:
    section = settings(http_receiver.url, templates={"failover": {"title": "{{ data.cause.upper(1, 2) }}"}})
    n = notifier(store_path, section, tmp_path)
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: http_receiver.messages, what="the plain message")
    finally:
        n.stop()
    assert http_receiver.titles() == ["[warning] failover: VI_1"]
    assert "template failover.title failed for incident 1" in caplog.text
