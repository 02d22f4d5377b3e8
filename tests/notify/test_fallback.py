"""A critical alert that cannot be delivered is not lost quietly: `fallback:` sends it on a second route,
and `hamaster status`, the metrics and the timeline say that a critical delivery was given up.

The first target is a local Feishu bot that refuses for good (it wants a keyword the target lacks); the
fallback is a chat receiver that accepts. The incident is a real split brain, derived by the correlator
from stored transitions.
"""

import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from feeder import Feeder
from sitelib import wait_for
from test_chat_services import TOKEN, Bot, bot, bots  # noqa: F401  (bots: the fixture that closes them)

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store.outbox import open_outbox
from hamaster.master.timeline.formats import describe
from hamaster.master.timeline.rows import AlertRow, Query, timeline
from hamaster.notify import Notifier, config

FAST_RETRY = {"backoff_s": 0.05, "max_backoff_s": 0.2, "max_attempts": 3}
# node2 becomes MASTER beside node1 and both stay so: a split brain, critical once it lasts
SPLIT = [("ev", 0.0, "node1", "MASTER", 101), ("ev", 0.1, "node2", "BACKUP", 100),
         ("ev", 5.0, "node2", "MASTER", 100), ("tick", 7.0, {"node1": 7.0, "node2": 7.0}),
         ("tick", 9.0, {"node1": 9.0, "node2": 9.0})]


def section(fussy: Bot, receiver_url: str, **route: Any) -> dict[str, Any]:
    return {"targets": [{"url": f"feishu://{TOKEN}", "base_url": fussy.base_url, "tags": ["chat"], "name": "fei"},
                        {"url": receiver_url, "tags": ["pager"], "name": "pager"}],
            "routes": [{"name": "oncall", "tags": ["chat"], "fallback": "pager", **route},
                       {"name": "pager", "tags": ["pager"], "kinds": []}],  # kinds []: only a fallback
            "retry": FAST_RETRY}


def run(conn: sqlite3.Connection, store_path: Path, tmp_path: Path, settings: dict[str, Any], steps: list) -> None:
    n = Notifier(settings, functools.partial(open_outbox, store_path), tmp_path / "master.yaml")
    n.start()
    try:
        feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10), t0=now_ns() - 60 * 10**9)
        feeder.run(steps)
        n.submit(feeder.new)
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')")
                 .fetchone() == (0,) and conn.execute("SELECT COUNT(*) FROM deliveries").fetchone() != (0,),
                 what="every delivery to finish")
    finally:
        n.stop()


def deliveries(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    return conn.execute("SELECT d.route, i.kind, d.status, d.last_error FROM deliveries d"
                        " JOIN incidents i ON i.id = d.incident_id ORDER BY d.id").fetchall()


def test_a_critical_alert_refused_for_good_goes_out_on_the_fallback_route(tmp_path, bots, http_receiver,  # noqa: F811
                                                                          site) -> None:
    store_path = site.root / "store.db"  # the site's own store: `hamaster status` reads it
    conn = store.connect(store_path)
    try:
        fussy = bot(bots, "feishu", keyword="告警")
        run(conn, store_path, tmp_path, section(fussy, http_receiver.url), SPLIT)
        assert deliveries(conn) == [
            ("oncall", "split_brain", "failed",
             "Feishu code 19024: Key Words Not Found; fallback: route pager, 1 target(s)"),
            ("pager", "split_brain", "sent", None)]
        assert len(fussy.requests) == 1 and not fussy.accepted
        (msg,) = http_receiver.messages
        assert msg["title"].startswith("[critical] VI_1 split brain: node1 and node2") and msg["type"] == "failure"
        rows = [describe(r) for r in timeline(conn, Query()) if isinstance(r, AlertRow)]
        assert [r[2].split(" ")[:3] for r in rows] == [["alert", "failed", "#1:"], ["alert", "sent", "#1:"]]
        assert rows[0][5].endswith("fallback: route pager, 1 target(s)")
    finally:
        conn.close()
    text = site.cli("status").stdout
    assert ("alerts: 1 deliveries of critical incidents FAILED; latest: incident #1 (split_brain VI_1) to"
            " feishu://") in text, text
    assert "on route oncall: Feishu code 19024: Key Words Not Found" in text
    assert TOKEN not in text
    alerts = json.loads(site.cli("status", "--json").stdout)["alerts"]
    assert alerts["failed_critical"] == 1 and alerts["last_failed_critical"]["route"] == "oncall"


def test_an_exhausted_critical_delivery_falls_back_and_a_warning_does_not(conn, store_path, tmp_path, bots,  # noqa: F811
                                                                         http_receiver) -> None:
    """Out of attempts (a bot that stays rate limited... here: busy) is given up too; a warning is not
    sent on the fallback route (it is for what must not be missed)."""
    fussy = bot(bots, "feishu")
    fussy.busy = 1000
    run(conn, store_path, tmp_path, section(fussy, http_receiver.url),
        [*SPLIT, ("ev", 20.0, "node1", "FAULT", 101), ("ev", 20.6, "node2", "MASTER", 100)])
    got = deliveries(conn)
    assert ("oncall", "split_brain", "failed", "Feishu code 11247: internal error; fallback: route pager,"
            " 1 target(s)") in got
    assert ("pager", "split_brain", "sent", None) in got
    assert [r for r in got if r[0] == "pager"] == [("pager", "split_brain", "sent", None)]  # no warning there
    assert len(fussy.requests) >= FAST_RETRY["max_attempts"]


@pytest.mark.parametrize(("routes", "message"), [
    ([{"name": "a", "fallback": "nope"}], "notify.routes[0].fallback: no route named 'nope' (routes: a)"),
    ([{"name": "a", "fallback": "b"}, {"name": "b", "fallback": "a"}],
     "notify.routes[0].fallback: a loop (a -> b -> a)"),
    ([{"name": "a", "fallback": "a"}], "notify.routes[0].fallback: a loop (a -> a)"),
])
def test_a_fallback_must_name_another_route_and_never_loop(routes, message, tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        config.load({"targets": ["json://127.0.0.1:1/x"], "routes": routes}, "master.yaml", tmp_path)
    assert message in str(err.value)
