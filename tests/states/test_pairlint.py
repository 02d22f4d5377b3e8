"""Pair lint on rendered keepalived.conf: what would break the pair is an error, what surprises is a warning."""

from hamaster.core import keepalived_conf
from hamaster.master.states.pairlint import lint


def conf(priority: int = 100, vrid: int = 66, auth: str = "1111", vip: str = "192.168.16.130", weight: int = 2,
         state: str = "MASTER") -> str:
    return f"""
vrrp_script chk_nginx {{
    script "/etc/keepalived/check_nginx.sh"   # the seed's check
    interval 2
    weight {weight}
}}
vrrp_instance VI_1 {{
    state {state}
    interface ens33
    virtual_router_id {vrid}
    priority {priority}
    authentication {{
        auth_type PASS
        auth_pass {auth}
    }}
    track_script {{
        chk_nginx
    }}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


def messages(**node2: object) -> list[tuple[str, str]]:
    return [(x.severity, x.message) for x in lint({"node1": conf(), "node2": conf(**{"priority": 99, **node2})})]


def test_the_seeds_pair_is_clean() -> None:
    assert messages() == []


def test_parse_reads_the_seeds_instance() -> None:
    (inst,) = keepalived_conf.parse(conf()).instances.values()
    assert (inst.name, inst.vrid, inst.priority, inst.vips, inst.tracked) == (
        "VI_1", 66, 100, ("192.168.16.130",), {"chk_nginx": 2})


def test_disagreements_are_errors_and_never_show_the_password() -> None:
    assert messages(vrid=67) == [("error", "virtual_router_id differ: node1=66, node2=67")]
    assert messages(vip="192.168.16.131") == [("error", "VIPs differ: node1=192.168.16.130, node2=192.168.16.131")]
    assert messages(auth="2222") == [("error", "authentication differs between node1, node2")]


def test_tied_priorities_warn() -> None:
    assert messages(priority=100) == [("warning", "priorities tie: node1 and node2 both 100")]


def test_a_weight_that_cannot_flip_mastership_warns() -> None:
    assert messages(priority=90) == [
        ("warning", "chk_nginx weight 2 cannot flip mastership: node1 100 vs node2 90 (gap 10)")]


def test_auth_pass_longer_than_keepalived_keeps_warns_without_showing_it() -> None:
    found = lint({"node1": conf(auth="longsecret")})
    assert [(x.severity, x.message) for x in found] == [
        ("warning", "node1: auth_pass is 10 characters; keepalived uses only the first 8")]


def test_a_weight_under_the_peers_nopreempt_cannot_move_the_vip() -> None:
    """keepalived's BACKUP under nopreempt accepts a live MASTER's adverts whatever their priority: the
    MASTER's failed check (weight 2 over a gap of 1) would leave the VIP where nginx is down."""
    def nopreempt(text: str) -> str:
        return text.replace("    priority", "    nopreempt\n    priority")

    master, backup = conf(state="BACKUP"), nopreempt(conf(priority=99, state="BACKUP"))
    found = [(x.severity, x.message) for x in lint({"node1": master, "node2": backup})]
    assert found == [("warning", "node1: chk_nginx weight 2 cannot move the VIP away: node2 runs nopreempt and"
                      " never take over from a live MASTER for its priority; give it weight 0 (a failure makes"
                      " node1 FAULT)")]
    fault = nopreempt(conf(state="BACKUP", weight=0))
    assert lint({"node1": fault, "node2": nopreempt(conf(priority=99, state="BACKUP", weight=0))}) == []


def test_two_pairs_sharing_the_sample_name_are_two_pairs() -> None:
    """VI_1 on every pair (keepalived's sample name), told apart by VRID and VIPs: nothing to say; a VRID
    that differs within one of them is still found."""
    site = {"node1": conf(), "node2": conf(priority=99, state="BACKUP"),
            "node3": conf(vrid=67, vip="192.168.17.130"), "node4": conf(priority=99, vrid=67, vip="192.168.17.130",
                                                                      state="BACKUP")}
    assert lint(site) == []
    site["node4"] = conf(priority=99, vrid=68, vip="192.168.17.130", state="BACKUP")
    assert [(x.severity, x.message) for x in lint(site)] == [("error", "virtual_router_id differ: node3=67, node4=68")]
