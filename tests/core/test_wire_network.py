"""Where an instance is heard (keepalived_conf.wire_network): the same string on every node of one VRRP
group, another for another segment; and the minion's config watch sends it with each instance."""

from pathlib import Path

from hamaster.core.keepalived_conf import parse, wire_network
from hamaster.minion.confwatch import ConfigWatch
from hamaster.minion.keepalived import interface_addresses


def instance(body: str, name: str = "VI_1"):
    return parse(f"vrrp_instance {name} {{\n{body}\n}}\n").instances[name]


MULTICAST = "interface eth0\nvirtual_router_id 51\nvirtual_ipaddress {\n10.1.2.100/24\n}"


def test_multicast_the_interfaces_primary_network_in_the_instances_family() -> None:
    inst = instance(MULTICAST)
    # the VIP itself (held by the MASTER, secondary or not) is no network of its own
    node1 = {"eth0": ["10.1.2.100/24", "fe80::1/64", "fd00::11/64", "10.1.2.11/24"], "eth1": ["10.9.0.11/24"]}
    node2 = {"eth0": ["10.1.2.12/24"], "eth1": ["10.9.0.12/24"]}
    assert wire_network(inst, node1) == wire_network(inst, node2) == "10.1.2.0/24"
    v6 = instance("interface eth0\nvirtual_router_id 52\nvirtual_ipaddress {\nfd00::100\n}")
    assert wire_network(v6, node1) == "fd00::/64"  # not the link-local fe80::/64 every link has
    assert wire_network(instance(MULTICAST.replace("eth0", "eth1")), node1) == "10.9.0.0/24"
    assert wire_network(inst, {"eth1": ["10.9.0.11/24"]}) is None  # the node cannot tell


def test_unicast_both_sides_name_the_same_endpoints() -> None:
    side1 = instance("interface eth0\nvirtual_router_id 51\nunicast_src_ip 10.1.2.11\nunicast_peer {\n10.1.2.12\n}")
    side2 = instance("interface eth0\nvirtual_router_id 51\nunicast_peer {\n10.1.2.11\n}")  # src: the primary
    assert wire_network(side1, {}) == "unicast:10.1.2.11,10.1.2.12"
    assert wire_network(side2, {"eth0": ["10.1.2.12/24"]}) == "unicast:10.1.2.11,10.1.2.12"
    three = instance("interface eth0\nvirtual_router_id 51\nunicast_src_ip 10.1.2.13\n"
                     "unicast_peer {\n10.1.2.12\n10.1.2.11\n}")
    assert wire_network(three, {}) == "unicast:10.1.2.11,10.1.2.12,10.1.2.13"


def test_interface_addresses_are_this_namespaces_with_their_prefix() -> None:
    assert "127.0.0.1/8" in interface_addresses()["lo"]


def test_the_config_watch_sends_each_instances_network(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(f"vrrp_instance VI_1 {{\n{MULTICAST.replace('eth0', 'lo')}\n}}\n")
    watch = ConfigWatch(path, every=1.0)  # the real `ip -j addr` of this namespace: lo is 127.0.0.1/8
    event = watch.poll(0.0)
    assert event is not None and event.data["instances"]["VI_1"]["network"] == "127.0.0.0/8"
    assert watch.describe["VI_1"]["network"] == "127.0.0.0/8"  # what the instance's vrrp events carry
    assert watch.poll(5.0) is None  # the network is no change of its own


def test_addresses_spelt_otherwise_in_keepalived_conf_are_the_same_endpoints() -> None:
    """keepalived takes any spelling of an IPv6 address (upper case, leading zeros, uncompressed); the kernel
    lists the primary in its canonical one. Both nodes of one unicast pair, one whose source is its primary,
    must say the same network, and a VIP spelt otherwise is still no network of its own."""
    side1 = instance("interface eth0\nvirtual_router_id 51\nunicast_peer {\nFD00:0:0:0::12\n}")
    side2 = instance("interface eth0\nvirtual_router_id 51\nunicast_src_ip fd00::0012\nunicast_peer {\nFD00::11\n}")
    one = wire_network(side1, {"eth0": ["fd00::11/64"]})
    assert one == wire_network(side2, {}) == "unicast:fd00::11,fd00::12"
    v6 = instance("interface eth0\nvirtual_router_id 52\nvirtual_ipaddress {\nFD00:1::100/128\n}")
    holder = {"eth0": ["fd00:1::100/128", "fd00::11/64"]}  # IPv6: the newest address is listed first
    assert wire_network(v6, holder) == wire_network(v6, {"eth0": ["fd00::12/64"]}) == "fd00::/64"
