"""The dashboard in a real browser (Debian's chromium through Playwright) against a real master and minions:
the holder shown is the store's, a transition changes the open page without a reload, the timeline filters,
the incident page draws the store's segments, names are shown as text."""

from itertools import pairwise
from pathlib import Path

import pytest
from sitelib import Site, wait_for
from webtools import WebProcess, get_json

from hamaster.master import store

SVG = "svg.swimlanes"


def holder_of(page, group: str = "VI_1") -> str:
    return page.get_attribute(f'article.group[data-group="{group}"]', "data-holder") or ""


def test_page_shows_the_holder_and_follows_a_failover_without_reload(pair_site: Site, web: WebProcess,
                                                                      chromium) -> None:
    page = chromium.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(web.url + "/")
    assert holder_of(page) == "node1"
    assert page.inner_text('article.group[data-group="VI_1"] .holder').strip() == "held by node1"
    page.wait_for_selector('#live[data-state="live"]', timeout=10_000)
    page.evaluate("window.hamasterMark = 'same page'")
    pair_site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    pair_site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(lambda: pair_site.count() == 4, 20, "both transitions stored")
    # the store has them: the open page follows (the watcher looks every 0.1 s)
    # (a selector, not wait_for_function: the page's CSP forbids the eval that one needs)
    page.wait_for_selector('article.group[data-group="VI_1"][data-holder="node2"]', timeout=10_000)
    assert page.evaluate("window.hamasterMark") == "same page"  # swapped in, not reloaded
    assert page.get_attribute('tr.node[data-node="node1"]', "data-state") == "FAULT"
    assert errors == []  # nothing refused by the Content-Security-Policy, no script error


def test_timeline_filters_by_node_and_kind_and_links_to_itself(pair_site: Site, web: WebProcess, chromium) -> None:
    pair_site.hook("node2", "INSTANCE", "VI_1", "FAULT", "99")
    wait_for(lambda: pair_site.count() == 3, 20, "node2's FAULT stored")
    page = chromium.new_page()
    page.goto(web.url + "/timeline")
    page.fill('input[name="node"]', "node2")
    page.fill('input[name="kind"]', "vrrp")
    page.click('button[type="submit"]')
    page.wait_for_url("**/timeline?*node=node2*")
    cells = page.eval_on_selector_all("table.timeline tbody tr", "rows => rows.map(r => [r.cells[1].innerText,"
                                      " r.cells[3].innerText])")
    assert cells == [["node2", "? -> BACKUP"], ["node2", "BACKUP -> FAULT"]]
    again = chromium.new_page()
    again.goto(page.url)  # the address is the query: a link shows the same rows
    assert again.eval_on_selector_all("table.timeline tbody tr", "rows => rows.length") == 2
    api = get_json(web.url + "/api/timeline?node=node2&kind=vrrp")
    assert [(r["node"], r["from"], r["to"]) for r in api["rows"]] == [("node2", None, "BACKUP"),
                                                                     ("node2", "BACKUP", "FAULT")]


def test_incident_page_draws_the_segments_the_store_holds(pair_site: Site, web: WebProcess, chromium) -> None:
    pair_site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    pair_site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    found = wait_for(lambda: pair_site.query("SELECT id FROM incidents WHERE kind = 'failover'"), 30,
                     "the failover incident")
    incident = found[0][0]
    transitions = pair_site.query("SELECT minion, state, node_ns FROM events WHERE kind = 'vrrp' ORDER BY node_ns")
    page = chromium.new_page()
    page.goto(f"{web.url}/incident/{incident}")
    svg = page.locator(SVG)
    since, until = int(svg.get_attribute("data-since-ns")), int(svg.get_attribute("data-until-ns"))
    assert until - since < 60 * 10**9  # zoomed on the incident, not the 10 minutes around it
    lanes = page.eval_on_selector_all(
        f"{SVG} g.lane", "gs => gs.map(g => [g.dataset.node, [...g.querySelectorAll('rect')].map(r =>"
        " [r.dataset.state, r.dataset.startNs, r.dataset.endNs])])")  # ns as text: a JS number would round them
    drawn = {node: [(state, int(start), int(end)) for state, start, end in rects] for node, rects in lanes}
    assert sorted(drawn) == ["node1", "node2"]
    for node, segments in drawn.items():
        mine = [(s, t) for m, s, t in transitions if m == node]
        assert all(a[2] == b[1] for a, b in pairwise(segments))  # no gap, no overlap
        if segments[0][0] == "UNKNOWN":  # before the node's first word: drawn as unknown, hatched
            assert segments[0][2] == mine[0][1]
            segments = segments[1:]
        # each change of state starts a segment at the stored node time (the first may start before the window)
        assert [s for s, _, _ in segments] == [s for s, _ in mine]
        assert [start for _, start, _ in segments[1:]] == [t for _, t in mine[1:]]
        assert segments[-1][2] <= until
    assert "moved node1 -> node2" in page.inner_text("main")
    report = get_json(f"{web.url}/api/incidents/{incident}")
    assert report["lanes"]["node2"][-1]["state"] == "MASTER"
    # the correlator dates the gap by corrected times (each minion's measured clock offset, here well under a
    # millisecond); the lanes are in node time
    assert abs(report["impact"]["no_owner_ns"] - report["incident"]["gap_ns"]) < 1_000_000


@pytest.mark.parametrize("node", ["<script>alert(1)<", "<img src=x onerror=alert(2)>"])  # a minion id has no "/"
def test_a_name_with_markup_is_shown_as_text(tmp_path: Path, node: str, chromium) -> None:
    site = Site(tmp_path / "site", minions=("node1", node))
    web = None
    try:
        site.start_master()
        site.start_minion("node1")
        site.start_minion(node)
        instance = "VI_<script>alert(3)<"
        site.hook("node1", "INSTANCE", instance, "MASTER", "100")
        site.hook(node, "INSTANCE", instance, "BACKUP", "99")
        wait_for(lambda: site.count() == 2, 20, "both states stored")
        web = WebProcess(site.config, log=site.root / "web.log")
        web.wait_up()
        page = chromium.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(web.url + "/")
        page.wait_for_selector('#live[data-state="live"]', timeout=10_000)
        rows = page.eval_on_selector_all("tr.node", "rs => rs.map(r => r.cells[0].textContent)")
        assert sorted(rows) == sorted(["node1", node])
        assert page.inner_text("article.group h3") == instance
        assert page.eval_on_selector_all("main script, main img", "els => els.length") == 0
        page.goto(web.url + "/timeline?kind=vrrp")
        assert node in page.inner_text("table.timeline")
        assert page.eval_on_selector_all("table.timeline script, table.timeline img", "els => els.length") == 0
        assert dialogs == []
    finally:
        if web is not None:
            web.stop()
        site.close()


def test_status_api_is_the_store_and_the_masters_word(pair_site: Site, web: WebProcess) -> None:
    doc = get_json(web.url + "/api/status")
    assert doc["master"] == "up"
    assert {m: i["online"] for m, i in doc["minions"].items()} == {"node1": True, "node2": True}
    assert doc["minions"]["node1"]["instances"] == {"VI_1": {"state": "MASTER", "priority": 100}}
    [group] = doc["groups"]
    assert (group["name"], group["holder"], group["state"]) == ("VI_1", ["node1"], "ok")
    stored = store.read(pair_site.root / "store.db", store.current_vrrp_states)
    assert {n["node"]: n["state"] for n in group["nodes"]} == {m: s["VI_1"][0] for m, s in (stored or {}).items()}


def test_heartbeats_alone_push_nothing_to_open_pages(pair_site: Site, web: WebProcess) -> None:
    """A heartbeat moves last_seen twice a second: the API says so, the page's version stays (no re-render)."""
    import re
    import time

    from webtools import get

    def version() -> int:
        return int(re.search(rb'id="status" data-version="(\d+)"', get(web.url + "/")[2]).group(1))

    first, seen = version(), get_json(web.url + "/api/status")["minions"]["node1"]["last_seen_ns"]
    wait_for(lambda: get_json(web.url + "/api/status")["minions"]["node1"]["last_seen_ns"] > seen, 10,
             "a newer heartbeat in the API")
    time.sleep(1.5)  # the watcher asks the master every second: more heartbeats have come by now
    assert version() == first


def test_a_silent_master_is_shown_as_its_last_word_not_as_the_holder(pair_site: Site, web: WebProcess,
                                                                      chromium) -> None:
    import signal

    page = chromium.new_page()
    page.goto(web.url + "/")
    assert holder_of(page) == "node1"
    pair_site.stop(pair_site.minion_procs["node1"], signal.SIGKILL)  # its heartbeats stop: node1 goes silent
    page.wait_for_selector('article.group[data-group="VI_1"][data-state="unknown"]', timeout=30_000)
    row = 'tr.node[data-node="node1"]'
    assert page.inner_text(f"{row} td.state") == "last said MASTER"
    assert page.inner_text(f"{row} td:nth-child(5)") == "silent"
    assert page.eval_on_selector_all(f"{row} td span.was", "s => s.length") == 4  # state, keepalived, nginx, VIPs
    assert holder_of(page) == ""
    page.wait_for_selector('li.incident[data-kind="node_silent"]', timeout=30_000)  # open, on top
