"""Routing rules on a real store: which incidents become deliveries, which are suppressed and why.
Nothing is sent here (no receiver needed): the Outbox only writes rows, the Notifier sends them."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
from hamaster.master.store import incidents
from hamaster.master.store.outbox import OutboxStore
from hamaster.notify import config
from hamaster.notify.outbox import Outbox
from hamaster.notify.reactor import Reactor
from hamaster.notify.render import Renderer

CHAT = "json://127.0.0.1:9/hook"


def outbox(conn: sqlite3.Connection, routes: list[dict[str, Any]] | None = None,
           reactor: list[dict[str, Any]] | None = None) -> Outbox:
    section: dict[str, Any] = {"targets": [{"url": CHAT, "tags": ["chat"]}]}
    if routes:
        section["routes"] = routes
    cfg = config.load(section, "master.yaml", Path("."))
    return Outbox(OutboxStore(conn), cfg, Renderer({}), Reactor(reactor or [], {r.name for r in cfg.routes}))


def incident(conn: sqlite3.Connection, kind: str = "failover", key: str = "k1", **kw: Any) -> int:
    inc = Incident(kind, kw.pop("instance", "VI_1"), kw.pop("started_ns", now_ns()), f"{kind} happened", key,
                   nodes=kw.pop("nodes", ["node1", "node2"]), **kw)
    incident_id = incidents.insert(conn, inc)
    conn.commit()
    assert incident_id is not None
    return incident_id


def outcome(conn: sqlite3.Connection, incident_id: int) -> list[tuple[str, str | None]]:
    return conn.execute("SELECT status, last_error FROM deliveries WHERE incident_id = ?", (incident_id,)).fetchall()


def test_an_incident_is_routed_once(conn) -> None:
    box, iid = outbox(conn), incident(conn)
    assert box.route(iid, now_ns()) == 1
    assert box.route(iid, now_ns()) == 0
    assert outcome(conn, iid) == [("pending", None)]


def test_silence_on_the_instance_suppresses_with_its_comment(conn) -> None:
    now = now_ns()
    conn.execute("INSERT INTO silences (instance, starts_ns, ends_ns, comment, created_ns) VALUES (?,?,?,?,?)",
                 ("VI_*", now - 1, now + 60 * 10**9, "nginx upgrade", now))
    box, iid = outbox(conn), incident(conn)
    box.route(iid, now)
    ((status, why),) = outcome(conn, iid)
    assert status == "suppressed" and why.startswith("silenced by #1 until") and "(nginx upgrade)" in why


def test_planned_incidents_are_quiet_unless_the_route_wants_them(conn) -> None:
    quiet, loud = incident(conn, key="a", planned=True, job_id="j1"), incident(conn, key="b", planned=True, job_id="j1")
    outbox(conn).route(quiet, now_ns())
    outbox(conn, [{"name": "all", "tags": ["chat"], "planned": True}]).route(loud, now_ns())
    assert outcome(conn, quiet) == [("suppressed", "planned: caused by apply job j1")]
    assert outcome(conn, loud) == [("pending", None)]


def test_node_silent_inhibits_that_nodes_instance_alerts(conn) -> None:
    box = outbox(conn)
    incident(conn, "node_silent", "s", instance=None, nodes=["node1"])
    no_master = incident(conn, "no_master", "n", nodes=["node1"])
    box.route(no_master, now_ns())
    assert outcome(conn, no_master) == [("suppressed", "inhibited: node1 silent")]


def test_rate_limit_per_route(conn) -> None:
    box = outbox(conn, [{"name": "oncall", "tags": ["chat"], "rate_limit": {"max": 2, "per_s": 60}}])
    ids = [incident(conn, key=f"k{i}") for i in range(3)]
    for iid in ids:
        box.route(iid, now_ns())
    assert [outcome(conn, i)[0][0] for i in ids] == ["pending", "pending", "suppressed"]
    assert outcome(conn, ids[2])[0][1] == "rate limit: 2 per 60 s on route oncall"


def test_recovered_follows_the_route_of_what_it_closes(conn) -> None:
    box = outbox(conn, [{"name": "pager", "tags": ["chat"], "severities": ["critical"]}])
    split = incident(conn, "split_brain", "sb")
    recovered = incident(conn, "recovered", "r", data={"closes": split})
    box.route(split, now_ns())
    box.route(recovered, now_ns())
    assert outcome(conn, recovered) == [("pending", None)]


def test_reactor_sends_on_a_named_route(conn) -> None:
    routes = [{"name": "pager", "tags": ["chat"], "kinds": ["split_brain"]}]
    box = outbox(conn, routes, reactor=[{"match": "incident/failover/VI_DB*", "notify": "pager"}])
    db, web = incident(conn, key="a", instance="VI_DB1"), incident(conn, key="b", instance="VI_WEB")
    box.route(db, now_ns())
    box.route(web, now_ns())
    assert outcome(conn, db) == [("pending", None)] and outcome(conn, web) == []


@pytest.mark.parametrize(("section", "message"), [
    ({"targets": [{"url": "nosuchservice://x/y"}]}, r"notify.targets\[0\].url: apprise cannot use this URL"),
    ({"targets": [{"url": CHAT}], "routes": [{"name": "r", "tags": ["mail"]}]},
     r"notify.routes\[0\].tags: no target has tag 'mail'"),
    ({"targets": [{"url": CHAT}], "routes": [{"kinds": ["failure"]}]},
     r"notify.routes\[0\].kinds\[0\]: expected one of failover.*got 'failure'"),
    ({"targets": [{"url": CHAT}], "templates": {"failover": {"title": "{% if %}"}}},
     r"notify.templates.failover.title: line 1:"),
    ({"targets": [{"url": CHAT}], "retry": {"max_atempts": 3}}, r"notify.retry"),
])
def test_bad_config_is_refused_at_start_naming_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(section, "master.yaml", Path("."))


def test_a_token_in_an_unusable_url_reaches_neither_the_error_nor_the_log(caplog) -> None:
    caplog.set_level("DEBUG")
    with pytest.raises(ConfigError) as err:
        config.load({"targets": [{"url": "slack://T0KENSECRET"}]}, "master.yaml", Path("."))
    assert "T0KENSECRET" not in str(err.value) and "T0KENSECRET" not in caplog.text


def test_reactor_rule_naming_an_unknown_route_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"reactor\[0\].notify: no route named 'pager'"):
        Reactor([{"match": "incident/*", "notify": "pager"}], {"default"})
