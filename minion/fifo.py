"""keepalived's notify_fifo: the zero-spawn path for transitions.

keepalived writes one line per transition, in order, to a named pipe:
    INSTANCE "VI_1" MASTER 100
    GROUP "VG_1" BACKUP
and, with `vrrp_notify_priority_changes` (global_defs; keepalived.conf(5): the notify script's last 4
parameters, the state word saying which priority changed), one per change of an instance's priority:
    INSTANCE "VI_1" BACKUP_PRIORITY 90
which become `beacon/priority/VI_1/90` events: the master knows live priorities (a tracked script's weight
applied) for preemption (master/correlate/preemption.py). `MASTER_RX_LOWER_PRI` (a master heard a lower one)
is skipped: no state change, no event.
The minion creates the FIFO and holds it open read-write, so a keepalived restart (its write end closing
and reopening) never gives us end-of-file and nothing in between is lost. Lines of other kinds (LVS
`VS`/`RS` lines) and garbage are returned as complaints, not events.
"""

import os
import shlex
import stat
from pathlib import Path

from hamaster.core.events import VRRP_STATES, vrrp_tag
from hamaster.minion.spool import NewEvent

MAX_LINE = 4096
PRIORITY_WORDS = ("MASTER_PRIORITY", "BACKUP_PRIORITY")


def open_fifo(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
        raise OSError(f"{path} exists and is not a FIFO")
    if not path.exists():
        os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR | os.O_NONBLOCK)


def parse_line(line: str, node_ns: int) -> NewEvent:
    try:
        words = shlex.split(line)
    except ValueError:
        raise ValueError(f"unparsable FIFO line {line[:80]!r}") from None
    if len(words) == 4 and words[0] == "INSTANCE" and words[2] in PRIORITY_WORDS:
        return _priority(words, line, node_ns)
    if len(words) not in (3, 4) or words[0] not in ("INSTANCE", "GROUP") or words[2] not in VRRP_STATES:
        raise ValueError(f"not a VRRP line: {line[:80]!r}")
    name, state, priority = _name(words[1], line), words[2], _prio(words[3], line) if len(words) == 4 else None
    data = {"type": "GROUP"} if words[0] == "GROUP" else {}
    return NewEvent(node_ns, "vrrp", vrrp_tag(name, state), name, state, priority, "fifo", data)


def _priority(words: list[str], line: str, node_ns: int) -> NewEvent:
    name, priority = _name(words[1], line), _prio(words[3], line)
    state = "MASTER" if words[2] == "MASTER_PRIORITY" else "BACKUP"
    return NewEvent(node_ns, "beacon", f"beacon/priority/{name}/{priority}", name, state, priority, "fifo", {})


def _name(name: str, line: str) -> str:
    """An instance's or group's name as keepalived writes it; a "/" would make a tag of another shape."""
    if not name or len(name) > 200 or "/" in name:
        raise ValueError(f"bad instance name in {line[:80]!r}")
    return name


def _prio(word: str, line: str) -> int:
    if not word.isdigit() or int(word) > 255:
        raise ValueError(f"bad priority in {line[:80]!r}")
    return int(word)


class FifoReader:
    """Accumulates bytes from the FIFO and splits them into events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = open_fifo(path)
        self._buf = b""

    def read(self, now_ns: int) -> tuple[list[NewEvent], list[str]]:
        events, bad = [], []
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        if len(self._buf) > MAX_LINE:
            bad.append(f"FIFO line over {MAX_LINE} bytes dropped")
            self._buf = b""
        for raw in lines:
            if not raw.strip() or raw.split()[2:3] == [b"MASTER_RX_LOWER_PRI"]:
                continue
            try:
                events.append(parse_line(raw.decode("utf-8", "replace"), now_ns))
            except ValueError as exc:
                bad.append(str(exc))
        return events, bad

    def close(self) -> None:
        os.close(self.fd)
