"""The postmortem report: its impact figures, and a picture with one lane per node and the right segments."""

import io
import xml.etree.ElementTree as ET

from scenario import at

from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import postmortem as pm
from hamaster.master.timeline import rows as tl

DAY = "2024-05-14"
SVG = "{http://www.w3.org/2000/svg}"
UTC = tf.parse_tz("UTC")


def lanes_of(svg: str) -> dict[str, list[tuple[str, int, int]]]:
    root = ET.fromstring(svg)
    return {g.get("data-node"): [(r.get("data-state"), int(r.get("data-start-ns")), int(r.get("data-end-ns")))
                                 for r in g.iter(f"{SVG}rect")]
            for g in root.iter(f"{SVG}g") if g.get("class") == "lane"}


def test_failover_report_counts_the_gap_as_time_without_owner(open_scenario) -> None:
    conn = open_scenario("failover")
    report = pm.build_report(conn, tl.incident_query(conn, 2, 60 * 10**9), 2)
    assert (report.no_owner_ns, report.two_owner_ns) == (620_000_000, 0)
    assert [(a.route, a.status) for a in report.alerts] == [("ops-mail", "sent"), ("chat", "failed")]
    lanes = lanes_of(pm.swimlanes_svg(report, UTC))
    assert lanes == {
        "node1": [("MASTER", report.since_ns, at(DAY, "03:12:09.104")),
                  ("FAULT", at(DAY, "03:12:09.104"), report.until_ns)],
        "node2": [("BACKUP", report.since_ns, at(DAY, "03:12:09.724")),
                  ("MASTER", at(DAY, "03:12:09.724"), report.until_ns)],
    }


def test_start_up_split_brain_is_two_owners_for_36_ms_and_the_apply_is_listed(open_scenario) -> None:
    conn = open_scenario("failover")
    report = pm.build_report(conn, tl.incident_query(conn, 1, 10 * 10**9), 1)
    assert report.two_owner_ns == 36_000_000
    # over the split brain alone: the 3.57 s both were BACKUP at keepalived's start is not this incident's
    assert report.no_owner_ns == 0
    assert [a.jid for a in report.applies] == ["20240514020000000001"]
    root = ET.fromstring(pm.swimlanes_svg(report, UTC))
    markers = [g.get("class") for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("marker")]
    assert markers == ["marker apply"]
    node2 = lanes_of(pm.swimlanes_svg(report, UTC))["node2"]
    assert [s for s, _, _ in node2] == ["UNKNOWN", "BACKUP", "MASTER", "BACKUP"]
    blip = next(r for r in root.iter(f"{SVG}rect") if r.get("data-state") == "MASTER"
                and r.get("data-start-ns") == str(at(DAY, "02:00:05.710")))
    assert float(blip.get("width")) >= 1.5  # 36 ms in a 24 s picture is still drawn


def test_split_brain_heal_needs_no_event_from_the_staying_master(open_scenario) -> None:
    conn = open_scenario("split_brain_late")
    report = pm.build_report(conn, tl.incident_query(conn, 7, 60 * 10**9), 7)
    # both MASTER from node2's MASTER (placed by corrected time, 05:00:03.650) to the incident's end, which
    # the scenario dates by node2's own clock: the impact is counted over the incident alone
    assert report.two_owner_ns == at(DAY, "05:04:09.800") - at(DAY, "05:00:03.653")  # 4 min 6 s
    lanes = lanes_of(pm.swimlanes_svg(report, UTC))
    assert [s for s, _, _ in lanes["node1"]] == ["MASTER"]  # node1 never said a word: MASTER all along
    assert [s for s, _, _ in lanes["node2"]] == ["BACKUP", "MASTER", "BACKUP"]


def test_markdown_and_html_documents_hold_summary_picture_and_timeline(open_scenario, tmp_path) -> None:
    conn = open_scenario("failover")
    report = pm.build_report(conn, tl.incident_query(conn, 2, 60 * 10**9), 2)
    md = io.StringIO()
    pm.write_report(report, md, "markdown", UTC, svg_path=tmp_path / "pm.svg")
    assert "- **Impact**: the VIP had no owner for 620 ms\n" in md.getvalue()  # no "two owners for 0 ms"
    assert "![one lane per node](pm.svg)" in md.getvalue()
    assert len(lanes_of((tmp_path / "pm.svg").read_text())) == 2
    page = io.StringIO()
    pm.write_report(report, page, "html", UTC)
    body = page.getvalue()
    assert body.count("<svg") == 1 and body.count('<tr class="incident">') == 1
    assert "HTTP 503 from chat.example.com" in body
    assert "json://" not in body and "token=" not in body and "mailto:" not in body  # targets by name, no URL


# -- the picture a new user gets: zoomed, up to now, silent hatched, probe and alerts, impact of the incident --

POWER_OFF = "2024-05-14"


def test_the_power_off_failover_is_zoomed_and_its_impact_is_its_own(open_scenario) -> None:
    conn = open_scenario("power_off")
    report = pm.incident_report(conn, 2)
    # from the steady state before node1 went silent to node2's MASTER, with a 2 s margin: not 10 minutes
    assert (report.since_ns, report.until_ns) == (at(DAY, "01:00:28.000"), at(DAY, "01:00:35.300"))
    lanes = lanes_of(pm.swimlanes_svg(report, UTC))
    assert lanes == {
        "node1": [("MASTER", at(DAY, "01:00:28.000"), at(DAY, "01:00:30.000")),
                  ("SILENT", at(DAY, "01:00:30.000"), at(DAY, "01:00:35.300"))],  # unknown, not "MASTER"
        "node2": [("BACKUP", at(DAY, "01:00:28.000"), at(DAY, "01:00:33.300")),
                  ("MASTER", at(DAY, "01:00:33.300"), at(DAY, "01:00:35.300"))],
    }
    # the failover's own gap, not the 3.6 s of the start-up before anyone was MASTER
    assert (report.no_owner_ns, report.two_owner_ns) == (3_300_000_000, 0)
    assert report.probe_outage_ns == at(DAY, "01:00:33.350") - at(DAY, "01:00:30.050")
    root = ET.fromstring(pm.swimlanes_svg(report, UTC, {"json://hook:****@chat.example.com/hook": "oncall-chat"}))
    silent = next(r for r in root.iter(f"{SVG}rect") if r.get("data-state") == "SILENT")
    assert silent.get("fill") == "url(#hatch)" and "unknown" in silent.get("class")
    probe = [(r.get("data-state"), int(r.get("data-start-ns"))) for g in root.iter(f"{SVG}g")
             if g.get("class") == "probe" for r in g.iter(f"{SVG}rect")]
    assert probe == [("node1", report.since_ns), ("nobody", at(DAY, "01:00:30.050")),
                     ("node2", at(DAY, "01:00:33.350"))]
    [alert] = [g for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("marker alert")]
    assert alert.find(f"{SVG}title").text == "alert sent: oncall-chat (route oncall)"


def test_a_moment_is_a_moment_empty_sections_are_left_out_alerts_by_name(open_scenario) -> None:
    conn = open_scenario("power_off")
    report = pm.incident_report(conn, 2)
    summary = dict(pm.summary_lines(report, UTC))
    assert summary["When"] == "at 2024-05-14 01:00:33.300+00:00"
    assert summary["Impact"] == "the VIP had no owner for 3.3 s, the probe saw nobody answer for 3.3 s"
    assert "Applies" not in summary
    md = io.StringIO()
    pm.write_report(report, md, "markdown", UTC, names={"json://hook:****@chat.example.com/hook": "oncall-chat"})
    text = md.getvalue()
    assert "Apply jobs" not in text and "still going" not in text and "json://" not in text
    assert "- 2024-05-14 01:00:33.450+00:00 sent: oncall-chat (route oncall)\n" in text
    unnamed = io.StringIO()
    pm.write_report(report, unnamed, "html", UTC)
    assert "json chat.example.com (route oncall)" in unnamed.getvalue()  # service and host: no path, no user


def test_lanes_stop_at_the_present(open_scenario) -> None:
    conn = open_scenario("power_off")
    now = at(DAY, "01:00:31.000")  # a report made while node1 was still silent, before node2 took over
    report = pm.incident_report(conn, 1, now=now)
    assert report.until_ns > now  # the window has its margin ...
    segments = [s for segs in report.lanes.values() for s in segs]
    assert max(s.end_ns for s in segments) == now  # ... but nothing is drawn past the moment of the report
    root = ET.fromstring(pm.swimlanes_svg(report, UTC))
    assert [int(g.get("data-ns")) for g in root.iter(f"{SVG}g") if g.get("class") == "now"] == [now]


def test_context_widens_the_zoomed_window(open_scenario) -> None:
    conn = open_scenario("power_off")
    zoomed, wide = pm.incident_report(conn, 2), pm.incident_report(conn, 2, "1m")
    assert (zoomed.since_ns - wide.since_ns, wide.until_ns - zoomed.until_ns) == (60 * 10**9, 60 * 10**9)
    assert wide.no_owner_ns == zoomed.no_owner_ns  # the impact is the incident's, whatever the window
