"""The minion tells the master what its keepalived.conf says (minion/confwatch.py): VRIDs and VIPs reach every
transition and every incident, a change of the file is an event of its own, and the password never leaves."""

import json
from pathlib import Path

from sitelib import Site, wait_for

CONF = """vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 66
    priority {priority}
    authentication {{
        auth_type PASS
        auth_pass s3cr3tpw
    }}
    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
}}
"""


def configure(site: Site, minion: str, **conf: str) -> Path:
    path = site.root / "minions" / minion / "keepalived.conf"
    path.write_text(CONF.format(**conf))
    with open(site.minion_config(minion), "a") as f:
        f.write(f"keepalived_conf: {path.name}\n")  # relative: beside minion.yaml
    return path


def config_events(site: Site, minion: str) -> list[dict[str, object]]:
    rows = site.query("SELECT data FROM events WHERE minion = ? AND tag = 'minion/keepalived/config' ORDER BY id",
                      minion)
    return [json.loads(d) for (d,) in rows]


def test_vrids_and_vips_reach_transitions_incidents_and_a_change_is_reported(site: Site) -> None:
    node1 = configure(site, "node1", state="MASTER", priority="100", vip="198.51.100.7")
    configure(site, "node2", state="BACKUP", priority="99", vip="198.51.100.7")
    site.start_master()
    for m in ("node1", "node2"):
        site.start_minion(m)
    wait_for(lambda: config_events(site, "node1") and config_events(site, "node2"), 20, "both configs reported")
    (first,) = config_events(site, "node1")
    assert first["instances"]["VI_1"]["vrid"] == 66  # type: ignore[index]
    assert first["instances"]["VI_1"]["vips"] == ["198.51.100.7"]  # type: ignore[index]
    assert len(str(first["sha256"])) == 64

    site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    site.hook("node2", "INSTANCE", "VI_1", "BACKUP", "99")
    wait_for(lambda: site.count() == 2, 20, "the pair's first states")
    site.hook("node1", "INSTANCE", "VI_1", "BACKUP", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(lambda: site.count("SELECT COUNT(*) FROM incidents WHERE kind = 'failover'"), 20, "the failover")

    for (data,) in site.query("SELECT data FROM events WHERE kind = 'vrrp'"):
        d = json.loads(data)
        assert (d["vrid"], d["vips"], d["interface"], d["family"]) == (66, ["198.51.100.7"], "eth0", "inet")
    ((summary, data),) = site.query("SELECT summary, data FROM incidents WHERE kind = 'failover'")
    assert json.loads(data)["vips"] == ["198.51.100.7"] and json.loads(data)["vrid"] == 66
    assert "198.51.100.7" in summary

    node1.write_text(CONF.format(state="BACKUP", priority="90", vip="198.51.100.8"))  # a hand edit
    wait_for(lambda: len(config_events(site, "node1")) == 2, 20, "the changed config reported")
    changed = config_events(site, "node1")[1]
    assert changed["instances"]["VI_1"]["vips"] == ["198.51.100.8"]  # type: ignore[index]
    assert changed["sha256"] != first["sha256"]

    stored = "\n".join(str(row) for table in ("events", "incidents", "minions")
                       for row in site.query(f"SELECT * FROM {table}"))
    assert "s3cr3tpw" not in stored and "s3cr3tpw" not in site.cli("events", "--json").stdout


def test_a_transition_right_after_the_config_was_written_is_described(site: Site) -> None:
    # `hamaster apply` writes keepalived.conf and (re)starts keepalived at once: its transitions come before
    # the minion's next look at the file; a transition makes it look at once when the file changed
    site.start_master()
    with open(site.minion_config("node1"), "a") as f:
        f.write("keepalived_conf: keepalived.conf\n")
    site.start_minion("node1")
    wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE id = 'node1'"), 20, "node1 connected")
    for n, vip in enumerate(("198.51.100.20", "198.51.100.21"), start=1):
        (site.root / "minions" / "node1" / "keepalived.conf").write_text(
            CONF.format(state="MASTER", priority="100", vip=vip))
        site.hook("node1", "INSTANCE", "VI_1", "MASTER" if n == 2 else "BACKUP", "100")
        wait_for(lambda n=n: site.count() == n, 20, "the transition")  # type: ignore[misc]
        ((data,),) = site.query("SELECT data FROM events WHERE kind = 'vrrp' ORDER BY id DESC LIMIT 1")
        assert json.loads(data)["vips"] == [vip]
