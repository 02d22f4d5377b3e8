"""On the real lab pair (keepalived and nginx in network namespaces, `hamaster apply states/`): the failover
alert that reaches the chat receiver and the mail server names the lab's VIP and VRID, which the minions
read from the keepalived.conf the state tree wrote; nothing in master.yaml tells the master about them."""

import importlib.util
from pathlib import Path

import pytest

from hamaster.lab.pillar import INSTANCE, ROUTER_ID
from hamaster.lab.site import LabSite, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    importlib.util.find_spec("hamaster.core.keepalived_conf") is None,
    reason="needs the minion's keepalived.conf facts (hamaster.core.keepalived_conf, on main)")]


def test_the_failover_alert_names_the_labs_vip_and_vrid(tmp_path: Path) -> None:
    with LabSite.create(tmp_path / "site") as site:
        site.apply()
        site.settle()
        assert "instances" not in (site.root / "master.yaml").read_text()  # the VIP comes from the nodes
        site.lab.kill_keepalived("node1")  # a crash: node2 takes over, one alert
        wait_until(lambda: site.lab.holds_vip("node2"), 15, "node2 to take the VIP")
        prefix = f"VIP {site.lab.vip} ({INSTANCE}, VRID {ROUTER_ID}) moved node1 -> node2"
        for get in (site.chat.received, site.mail.received):
            wait_until(lambda get=get: [m for m in get() if prefix in m.title], 30, f"'{prefix}'", step=0.1)
            [alert] = [m for m in get() if prefix in m.title]
            assert f"VRRP: instance {INSTANCE}, VRID {ROUTER_ID}, VIP {site.lab.vip}." in alert.body, alert.body
