"""The preemption line of the status document and page (nopreempt / preempt_delay), from a real store:
held by choice, pending until, then nothing once the node has taken over; overdue when it has not."""

import datetime
from pathlib import Path

from test_status import NOW, S, Store, group

from hamaster.master.web.app import templates


def facts(priority: int, **own: object) -> dict:
    return {"instances": {"VI_1": {"vrid": 51, "vips": ["10.0.0.5"], "priority": priority, "advert_int": 1.0,
                                   **own}}, "sync_groups": {}, "path": "/etc/keepalived/keepalived.conf",
            "sha256": "0" * 64}


def now(st: Store, at: float) -> dict:
    """The document at `at`, both nodes heard a moment before (their word counts)."""
    for node in ("node1", "node2"):
        st.heard(node, at - 0.5)
    return st.doc(now=at)


def page(doc: dict) -> str:
    return templates(datetime.UTC).get_template("_status.html").render(doc=doc)


def pair(st: Store, **own: object) -> None:
    """node1 (priority 100) came back at t=1 as BACKUP; node2 (90) holds the VIP since t=0.5."""
    st.event("node1", 0.1, "minion", "minion/keepalived/config", **facts(100, **own))
    st.event("node2", 0.1, "minion", "minion/keepalived/config", **facts(90, **own))
    st.vrrp("node2", 0.5, "MASTER", 90)
    st.vrrp("node1", 1, "BACKUP", 100)


def test_under_nopreempt_the_higher_backup_is_held_by_choice(tmp_path: Path) -> None:
    st = Store(tmp_path)
    pair(st, nopreempt=True)
    doc = now(st, 60)
    p = group(doc)["preemption"]
    assert (p["kind"], p["holder"], p["preferred"]) == ("held_by_choice", "node2", "node1")
    assert 'data-preemption="held_by_choice"' in page(doc) and "held by choice" in page(doc)


def test_under_preempt_delay_pending_until_then_gone_once_it_preempts(tmp_path: Path) -> None:
    st = Store(tmp_path)
    pair(st, preempt_delay=6)
    doc = now(st, 3)
    p = group(doc)["preemption"]
    due = NOW + 1 * S + 6 * S + 4 * S  # BACKUP at 1, the delay, master-down within 4 adverts
    assert (p["kind"], p["until_ns"]) == ("pending", due)
    assert f'until <time data-ns="{due}">' in page(doc) and "preempt_delay 6 s" in page(doc)
    st.vrrp("node1", 8.5, "MASTER", 100)
    st.vrrp("node2", 8.6, "BACKUP", 90)
    assert group(now(st, 9))["preemption"] is None
    assert "preemption" not in page(now(st, 9)).split("<table")[0]


def test_a_higher_backup_that_never_takes_over_is_overdue(tmp_path: Path) -> None:
    st = Store(tmp_path)
    pair(st, preempt_delay=6)
    st.event("node1", 2, "beacon", "beacon/priority/VI_1/100", instance="VI_1", state="BACKUP", priority=100)
    assert group(now(st, 14))["preemption"] is None  # its moment (due at 12) and the grace
    doc = now(st, 30)
    assert group(doc)["preemption"]["kind"] == "overdue"
    assert "preemption overdue" in page(doc)


def test_a_live_priority_below_the_holders_is_no_preemption(tmp_path: Path) -> None:
    st = Store(tmp_path)
    pair(st, nopreempt=True)
    # keepalived's FIFO: node1's check failed, its priority fell by the weight (BACKUP_PRIORITY 80)
    st.event("node1", 2, "beacon", "beacon/priority/VI_1/80", instance="VI_1", state="BACKUP", priority=80)
    assert group(now(st, 60))["preemption"] is None
