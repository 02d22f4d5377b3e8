"""The keepalived hook: `haminion-hook -c minion.yaml TYPE NAME STATE [PRIORITY]` (or `haminion hook ...`).

keepalived spawns this on every transition (generic `notify` passes TYPE NAME STATE PRIORITY; with
`notify_master "haminion hook -c F --state MASTER --instance VI_1"` and friends the state comes as an
option). It must be fast, never hang, always exit 0, and be durable before it exits even when the minion
daemon is down. So it imports only os, sys and time, writes one line to a file in the spool's inbox
(write, fsync, rename, fsync the folder), pokes the daemon through a FIFO if one is listening, and exits.
The daemon gives the event its sequence number when it moves the file into the spool.

The hook reads only `spool_dir:` from minion.yaml, by a plain line scan (importing a YAML parser would
double its run time): keep that key a one-line scalar. Default: `spool` beside minion.yaml.
"""

import os
import sys
import time

_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
_USAGE = "Usage: haminion hook -c minion.yaml TYPE NAME STATE [PRIORITY] | --state STATE --instance NAME"


def spool_dir_of(config: str) -> str:
    """The spool named by minion.yaml; a config that cannot be read is an error (no guessing a folder)."""
    base = os.path.dirname(os.path.abspath(config))
    with open(config) as f:
        for line in f:
            if line.startswith("spool_dir:"):
                value = line.split(":", 1)[1].split(" #", 1)[0].strip().strip("'\"")
                if value:
                    return value if os.path.isabs(value) else os.path.join(base, value)
    return os.path.join(base, "spool")


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    """-> (config path, [TYPE, NAME, STATE, PRIORITY])"""
    config = os.environ.get("HAMINION_CONFIG", "/etc/hamaster/minion.yaml")
    state = instance = None
    vtype, prio = "INSTANCE", "-"
    pos: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("-c", "--config"):
            config = next(it)
        elif a == "--state":
            state = next(it).upper()
        elif a == "--instance":
            instance = next(it)
        elif a == "--group":
            instance, vtype = next(it), "GROUP"
        elif a == "--priority":
            prio = next(it)
        else:
            pos.append(a)
    if pos:
        if len(pos) not in (3, 4):
            raise ValueError(_USAGE)
        vtype, instance, state = pos[0].upper(), pos[1], pos[2].upper()
        prio = pos[3] if len(pos) == 4 else "-"
    if not instance or state not in _STATES or vtype not in ("INSTANCE", "GROUP"):
        raise ValueError(_USAGE)
    if prio != "-" and not (prio.isdigit() and int(prio) <= 255):
        raise ValueError(f"priority must be 0..255, got {prio!r}")
    if any(c in instance for c in "\t\n/") or len(instance) > 200:
        raise ValueError(f"bad instance name {instance!r}")
    return config, [vtype, instance, state, prio]


def write_event(spool: str, fields: list[str], node_ns: int, source: str = "hook") -> str:
    inbox = os.path.join(spool, "inbox")
    os.makedirs(inbox, exist_ok=True)
    name = f"{node_ns}-{os.getpid()}"
    tmp, final = os.path.join(inbox, "." + name), os.path.join(inbox, name + ".ev")
    line = "\t".join(["1", str(node_ns), *fields, source]) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    dfd = os.open(inbox, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


def wake_daemon(spool: str) -> None:
    try:  # non-blocking: fails at once with ENXIO when no daemon reads the FIFO
        fd = os.open(os.path.join(spool, "wake"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    node_ns = time.time_ns()  # as early as possible: this is when keepalived told us
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(f"{_USAGE}\n{__doc__}")
        return 0
    try:
        config, fields = parse_args(argv)
        spool = spool_dir_of(config)
        write_event(spool, fields, node_ns)
        wake_daemon(spool)
    except Exception as exc:  # never fail keepalived: say why on stderr (keepalived logs it) and exit 0
        sys.stderr.write(f"haminion hook: {exc}\n")
    return 0
