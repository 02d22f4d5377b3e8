"""An alert a master was sending when it died goes out when the next master starts, not a minute later."""

import signal

from receivers import HttpReceiver
from sitelib import Site, wait_for


def deliveries(site: Site) -> list[tuple[str]]:
    return site.query("SELECT status FROM deliveries")


def test_a_delivery_left_sending_by_a_dead_master_is_taken_back_at_start(site: Site,
                                                                         http_receiver: HttpReceiver) -> None:
    with open(site.config, "a") as f:
        f.write(f"notify:\n  targets:\n    - {{url: \"{http_receiver.url}\", tags: [ops]}}\n")
    site.start_pair()
    http_receiver.hang()
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(http_receiver.entered.is_set, 30, "the alert to reach the hung receiver")
    assert ("sending",) in deliveries(site)
    site.stop(site.master_proc, signal.SIGKILL)  # dies with the claim in the store
    http_receiver.release()  # the held request ends too, into a receiver whose sender is gone
    wait_for(lambda: http_receiver.messages, 20, "the held request to finish")
    http_receiver.messages.clear()
    assert deliveries(site).count(("sending",)) == 1  # the store still says "being sent"

    site.start_master()  # the claim lives 60 s; the new master must not wait for it
    wait_for(lambda: http_receiver.messages, 20, "the alert from the new master")
    wait_for(lambda: deliveries(site) and ("sending",) not in deliveries(site), 20, "the delivery recorded")
