"""Drift needs every change of keepalived.conf reported, not only those that change its instances' facts: a
comment, a new auth_pass or a check script's interval is a hand edit `hamaster check` must see (by sha256)."""

import os
from pathlib import Path

from hamaster.minion.confwatch import ConfigWatch

CONF = """vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 66
    priority 99
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        10.0.0.100/24
    }
}
"""


def test_an_edit_that_leaves_the_facts_alone_is_reported_with_its_new_sha256(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(CONF)
    watch = ConfigWatch(path, every=1.0)
    first = watch.poll(0.0)
    assert first is not None and first.data["sha256"]
    assert watch.poll(5.0) is None  # nothing changed: nothing said
    path.write_text(CONF.replace("auth_pass 1111", "auth_pass 2222") + "# a hand edit\n")
    os.utime(path, ns=(1, 1))  # a new signature even within the file system's timestamp granularity
    edited = watch.poll(10.0)
    assert edited is not None and edited.data["sha256"] != first.data["sha256"]
    before, after = first.data["instances"]["VI_1"], edited.data["instances"]["VI_1"]
    assert before.pop("auth_digest") != after.pop("auth_digest")  # a digest says it changed, not to what
    assert after == before and "2222" not in str(edited.data)
