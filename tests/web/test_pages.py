"""The timeline's pages and the incident page over a store filled as a master fills it (no master running:
the dashboard reads the store alone and says the master is down)."""

import re
from pathlib import Path

import pytest
from scenario import load
from webtools import WebProcess, get, get_json

from hamaster.core.events import Event, vrrp_tag
from hamaster.master import store

T0 = 1_800_000_000 * 10**9


@pytest.fixture
def busy(tmp_path: Path):
    """450 transitions of node1 and node2, 1 s apart."""
    conn = store.connect(tmp_path / "store.db")
    for k in range(450):
        node, state = ("node1", "node2")[k % 2], ("MASTER", "BACKUP")[(k // 2) % 2]
        ev = Event(k // 2 + 1, T0 + k * 10**9, "vrrp", vrrp_tag("VI_1", state), "VI_1", state, 100, "hook")
        store.insert_events(conn, node, T0 + k * 10**9 + 10**6, [ev])
    conn.commit()
    conn.close()
    (tmp_path / "master.yaml").write_text("store: store.db\n")
    web = WebProcess(tmp_path / "master.yaml", log=tmp_path / "web.log")
    try:
        web.wait_up()
        yield web
    finally:
        web.stop()


def test_the_timeline_is_paged_and_each_page_is_linkable(busy: WebProcess) -> None:
    since = "2027-01-15T08:00:00Z"  # before T0
    first = get_json(f"{busy.url}/api/timeline?since={since}&kind=vrrp")
    assert len(first["rows"]) == 200 and first["next"]
    second = get_json(busy.url + first["next"])
    third = get_json(busy.url + second["next"])
    assert (len(second["rows"]), len(third["rows"]), third["next"]) == (200, 50, None)
    times = [r["at_ns"] for page in (first, second, third) for r in page["rows"]]
    assert times == [T0 + k * 10**9 for k in range(450)]  # in order, none twice, none missing
    status, _, body = get(f"{busy.url}/timeline?since={since}&kind=vrrp&page=1")
    html = body.decode()
    assert status == 200 and html.count("<tr class=\"event\">") == 200
    assert re.search(r'rel="next" href="/timeline\?since=[^"]*page=2"', html)
    assert re.search(r'rel="prev" href="/timeline\?since=[^"]*page=0"', html)


def test_bad_filters_say_what_is_expected(busy: WebProcess) -> None:
    status, _, body = get(f"{busy.url}/timeline?since=yesterday")
    assert status == 400 and b"expected a duration like 30m" in body
    status, _, body = get(f"{busy.url}/api/timeline?kind=vrrp,bogus")
    assert status == 400 and b"bogus" in body
    assert get(f"{busy.url}/incident/99")[0] == 404
    assert get_json(f"{busy.url}/api/status")["master"] == "down"


def test_the_incident_page_is_the_postmortem(tmp_path: Path) -> None:
    load("power_off", tmp_path / "store.db")
    (tmp_path / "master.yaml").write_text("store: store.db\n")
    web = WebProcess(tmp_path / "master.yaml", "--tz", "UTC", log=tmp_path / "web.log")
    try:
        web.wait_up()
        status, headers, body = get(web.url + "/incident/2")
        page = body.decode()
        assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
        for text in ("Postmortem: failover of VI_1 (incident 2)", "at 2024-05-14 01:00:33.300+00:00",
                     "the VIP had no owner for 3.3 s, the probe saw nobody answer for 3.3 s",
                     'data-state="SILENT"', "json chat.example.com (route oncall)"):
            assert text in page
        assert "style=" not in page and "<script>" not in page  # the CSP allows neither
        report = get_json(web.url + "/api/incidents/2")
        assert report["impact"] == {"no_owner_ns": 3_300_000_000, "two_owner_ns": 0,
                                    "probe_outage_ns": 3_300_000_000, "over": report["impact"]["over"]}
        assert [s["state"] for s in report["lanes"]["node1"]] == ["MASTER", "SILENT"]
    finally:
        web.stop()
