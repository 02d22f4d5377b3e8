"""The one reader of keepalived.conf (core/keepalived_conf.py): what the minion reports and pair lint compares."""

import json
from pathlib import Path

from hamaster.core import keepalived_conf

SEED = """
! Configuration File for keepalived
global_defs {
   router_id LVS_DEVEL   # a comment after words
}
vrrp_script chk_nginx {
    script "/etc/keepalived/check_nginx.sh --name 'a b'"
    interval 2
    weight -20
}
vrrp_instance VI_1
{
    state master
    interface ens33
    virtual_router_id 66
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.16.130/24 dev ens33 label ens33:1
    }
    track_script {
        chk_nginx
    }
}
"""


def test_the_seeds_instance_with_its_brace_on_the_next_line() -> None:
    conf = keepalived_conf.parse(SEED)
    (inst,) = conf.instances.values()
    assert (inst.name, inst.state, inst.interface, inst.vrid, inst.priority, inst.advert_int) == (
        "VI_1", "MASTER", "ens33", 66, 100, 1.0)
    assert (inst.vips, inst.family, inst.tracked, inst.version) == (("192.168.16.130",), "inet", {"chk_nginx": -20},
                                                                    None)
    assert inst.auth == ("auth_type PASS", "auth_pass 1111")


def test_facts_have_everything_but_the_password() -> None:
    facts = keepalived_conf.facts(keepalived_conf.parse(SEED))
    text = json.dumps(facts)
    assert "1111" not in text and "auth_pass" not in text and "PASS" not in text
    digest = facts["instances"]["VI_1"]["auth_digest"]
    other = keepalived_conf.facts(keepalived_conf.parse(SEED.replace("auth_pass 1111", "auth_pass 1112")))
    assert len(digest) == 8 and other["instances"]["VI_1"]["auth_digest"] != digest
    assert facts["instances"]["VI_1"]["vips"] == ["192.168.16.130"]
    assert facts["instances"]["VI_1"]["vrid"] == 66


def test_unicast_v6_sync_group_track_file_and_version_3() -> None:
    conf = keepalived_conf.parse("""
global_defs { vrrp_version 3 }
vrrp_track_file drain { file /run/hamaster/drain
  weight -50 }
vrrp_sync_group G1 { group { VI_4
  VI_6 } }
vrrp_instance VI_4 { interface eth0
  virtual_router_id 51
  nopreempt
  preempt_delay 5
  advert_int 0.3
  unicast_src_ip 10.0.0.1/24
  unicast_peer { 10.0.0.2
  10.0.0.3 }
  track_file { drain weight -60 }
}
vrrp_instance VI_6 { interface eth0
  virtual_router_id 52
  virtual_ipaddress { fd00::100/64 dev eth0 }
}
vrrp_instance CLOUD { interface eth0
  virtual_router_id 53
}
""")
    v4, v6, cloud = conf.instances["VI_4"], conf.instances["VI_6"], conf.instances["CLOUD"]
    assert (v4.unicast_src_ip, v4.unicast_peers, v4.nopreempt, v4.preempt_delay, v4.advert_int) == (
        "10.0.0.1", ("10.0.0.2", "10.0.0.3"), True, 5.0, 0.3)
    assert v4.tracked == {"drain": -60} and v4.version == 3 and v4.sync_group == "G1"
    assert (v6.vips, v6.family, v6.sync_group) == (("fd00::100",), "inet6", "G1")
    assert (cloud.vips, cloud.family, cloud.sync_group) == ((), None, None)
    assert conf.sync_groups["G1"].members == ("VI_4", "VI_6")
    assert conf.track_files["drain"] == keepalived_conf.TrackFile("drain", "/run/hamaster/drain", -50)
    newer = keepalived_conf.parse("track_file drain {\n file /run/d\n weight -5\n}\n")  # keepalived 2.2's name
    assert newer.track_files["drain"] == keepalived_conf.TrackFile("drain", "/run/d", -5)


def test_includes_are_followed_relative_to_their_file_and_under_a_root(tmp_path: Path) -> None:
    (tmp_path / "etc/keepalived/conf.d").mkdir(parents=True)
    (tmp_path / "etc/keepalived/conf.d/vi1.conf").write_text(
        "vrrp_instance VI_1 {\n virtual_router_id 7\n virtual_ipaddress {\n  include vips/*.list\n }\n}\n")
    (tmp_path / "etc/keepalived/conf.d/vips").mkdir()
    (tmp_path / "etc/keepalived/conf.d/vips/a.list").write_text("10.1.1.1\n10.1.1.2/32\n")
    (tmp_path / "etc/keepalived/loop.conf").write_text("include loop.conf\n")  # a loop stops, it does not hang
    conf = keepalived_conf.parse("include conf.d/*.conf\ninclude loop.conf\ninclude missing/*.conf\n",
                                 root=tmp_path, here="/etc/keepalived")
    assert conf.instances["VI_1"].vrid == 7
    assert conf.instances["VI_1"].vips == ("10.1.1.1", "10.1.1.2")


def test_conditional_lines_and_garbage_do_not_break_the_reader() -> None:
    conf = keepalived_conf.parse("@node1 priority 200\n}}} vrrp_instance\nvrrp_instance X { priority high\n"
                                 "virtual_router_id 300\n")
    assert conf.instances["X"].priority == 100  # not a number: keepalived's default
    assert conf.instances["X"].vrid == 300  # out of VRRP's range: lint's business, not the reader's


def test_read_gives_the_bytes_for_a_checksum(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(SEED)
    conf, raw = keepalived_conf.read(path)
    assert raw == SEED.encode() and list(conf.instances) == ["VI_1"]
