"""keepalived's FIFO priority lines (vrrp_notify_priority_changes): `INSTANCE "VI_1" BACKUP_PRIORITY 90`
becomes the beacon/priority/VI_1/90 event; MASTER_RX_LOWER_PRI is no event nor a complaint; transitions as
before. Through a real FIFO, written as keepalived writes it."""

import os
from pathlib import Path

from hamaster.minion.fifo import FifoReader


def test_priority_lines_are_beacons_and_transitions_stay_transitions(tmp_path: Path) -> None:
    reader = FifoReader(tmp_path / "keepalived.fifo")
    try:
        fd = os.open(tmp_path / "keepalived.fifo", os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b'INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" BACKUP_PRIORITY 90\n'
                     b'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100\nINSTANCE "VI_1" MASTER_PRIORITY 100\n'
                     b'INSTANCE "VI_1" MASTER_PRIORITY 300\nINSTANCE "a/b" BACKUP_PRIORITY 9\n')
        os.close(fd)
        events, bad = reader.read(123)
    finally:
        reader.close()
    assert [(e.kind, e.tag, e.instance, e.priority) for e in events] == [
        ("vrrp", "vrrp/VI_1/BACKUP", "VI_1", 100),
        ("beacon", "beacon/priority/VI_1/90", "VI_1", 90),
        ("beacon", "beacon/priority/VI_1/100", "VI_1", 100)]
    assert len(bad) == 2 and "bad priority" in bad[0] and "bad instance name" in bad[1]
