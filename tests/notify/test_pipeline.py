"""Issue 4 end to end with real processes: keepalived's hooks on two minions -> master -> mail and chat."""

import json
import os
import time

from receivers import HttpReceiver, SmtpReceiver
from sitelib import Site, wait_for


def add_notify(site: Site, *urls: str) -> None:
    targets = "".join(f"    - {{url: \"{u}\", tags: [ops]}}\n" for u in urls)
    with open(site.config, "a") as f:
        f.write(f"notify:\n  targets:\n{targets}  retry: {{max_attempts: 20, backoff_s: 0.2, max_backoff_s: 1}}\n")


def settled(site: Site) -> bool:
    """The master has correlated every event it stored, routed every incident and finished every delivery:
    an alert still to come could only come from an event not yet sent (not a late one of these)."""
    correlated = json.loads(site.cli("status", "--json").stdout)["counters"]["events"]
    return (correlated == site.count("SELECT COUNT(*) FROM events")
            and site.count("SELECT COUNT(*) FROM incidents WHERE routed_ns IS NULL") == 0
            and site.count("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')") == 0)


def start_pair(site: Site) -> None:
    site.start_pair()
    time.sleep(1.5)  # past the correlator's split-brain grace: the start-up is settled


def test_a_failover_is_one_mail_and_one_chat_message_naming_both_nodes(
        site: Site, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver) -> None:
    add_notify(site, http_receiver.url, smtp_receiver.url)
    start_pair(site)
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(lambda: http_receiver.messages and smtp_receiver.messages, 20, "the failover alert")
    wait_for(lambda: settled(site), 20, "the master to have routed and sent all it had to")
    assert len(http_receiver.messages) == 1 and len(smtp_receiver.messages) == 1
    chat, mail = http_receiver.messages[0], smtp_receiver.messages[0]
    for text in (chat["title"], str(mail["Subject"])):
        assert "node1" in text and "node2" in text
    assert "FAULT" in chat["message"] and "hamaster timeline --incident" in chat["message"]
    attempts = site.query("SELECT d.status, d.attempts FROM deliveries d JOIN incidents i ON i.id = d.incident_id"
                          " WHERE i.kind = 'failover'")
    assert sorted(attempts) == [("sent", 1), ("sent", 1)]


def test_a_hung_chat_service_never_holds_up_intake(site: Site, http_receiver: HttpReceiver) -> None:
    add_notify(site, http_receiver.url)
    start_pair(site)
    http_receiver.hang()
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(http_receiver.entered.is_set, 20, "the alert to reach the hung receiver")
    fd = os.open(site.fifo_path("node2"), os.O_WRONLY)
    try:  # 10,000 more events while the alert is stuck in the receiver
        for i in range(10_000):
            os.write(fd, f'INSTANCE "BULK_{i % 50}" {("MASTER", "BACKUP")[i % 2]} 50\n'.encode())
    finally:
        os.close(fd)
    wait_for(lambda: site.count() == 10_004, 60, "10,004 events stored and acked while the receiver hangs")
    assert http_receiver.messages == []  # still held
    http_receiver.release()
    wait_for(lambda: any("node2" in t for t in http_receiver.titles()), 20, "the failover alert after release")
