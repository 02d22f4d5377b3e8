"""Which pairs `hamaster drill` drills, and who is holder and peer, from a site's picture."""

import pytest

from hamaster.core.errors import ConfigError
from hamaster.master.cli.drill import pick_instances, readiness
from hamaster.master.drills.snapshot import Snapshot


def snap(vrrp: dict[str, dict[str, str]]) -> Snapshot:
    return Snapshot({m: {i: (s, 100, 0) for i, s in insts.items()} for m, insts in vrrp.items()},
                    dict.fromkeys(vrrp, True), {m: {} for m in vrrp}, {}, {}, [("10.0.0.100", ())])


def test_the_only_pair_or_the_one_named_or_every_one_with_site() -> None:
    one = snap({"node1": {"VI_1": "MASTER"}, "node2": {"VI_1": "BACKUP"}})
    assert pick_instances(one, None, False) == ["VI_1"]
    two = snap({"node1": {"VI_1": "MASTER", "VI_2": "BACKUP"}, "node2": {"VI_1": "BACKUP", "VI_2": "MASTER"}})
    assert pick_instances(two, "VI_2", False) == ["VI_2"] and pick_instances(two, None, True) == ["VI_1", "VI_2"]
    with pytest.raises(ConfigError, match="give --instance I or --site"):
        pick_instances(two, None, False)
    with pytest.raises(ConfigError, match="--instance VI_9: no such VRRP instance"):
        pick_instances(two, "VI_9", False)


def test_holder_and_peer_and_what_stops_a_drill() -> None:
    two = snap({"node1": {"VI_1": "MASTER", "VI_2": "BACKUP"}, "node2": {"VI_1": "BACKUP", "VI_2": "MASTER"}})
    assert readiness(two, "VI_2") == ("node2", "node1", [])  # active-active: each pair its own holder
    split = snap({"node1": {"VI_1": "MASTER"}, "node2": {"VI_1": "MASTER"}})
    holder, peer, found = readiness(split, "VI_1")
    assert (holder, peer) == (None, None) and found[0].problem == "VI_1 has two MASTERs (node1, node2)"
    fault = snap({"node1": {"VI_1": "MASTER"}, "node2": {"VI_1": "FAULT"}})
    assert [f.problem for f in readiness(fault, "VI_1")[2]] == ["node2 is in FAULT"]
    alone = snap({"node1": {"VI_1": "MASTER"}})
    assert [f.problem for f in readiness(alone, "VI_1")[2]] == ["VI_1 has no peer"]
