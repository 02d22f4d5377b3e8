"""`haminion doctor`: check a node's wiring and say what to fix.

Each check returns (ok, what, fix). Checks read only; nothing is changed.
"""

import os
import re
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from hamaster.core.config import MinionConfig
from hamaster.core.errors import StateError
from hamaster.minion import keepalived

Check = tuple[bool, str, str]


def _daemon_listening(spool_dir: Path) -> bool:
    try:  # the daemon holds the wake FIFO open for reading; without a reader this open fails at once
        fd = os.open(spool_dir / "wake", os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def _master_reachable(address: str) -> bool:
    url = urlparse(address)
    if url.scheme != "tcp" or not url.hostname or not url.port:
        return False
    try:
        with socket.create_connection((url.hostname, url.port), timeout=2):
            return True
    except OSError:
        return False


def check_keepalived_conf(text: str, cfg: MinionConfig) -> Iterator[Check]:
    body = re.sub(r"[#!].*", "", text)  # keepalived comments start with # or !
    instances = re.findall(r"vrrp_instance\s+(\S+)", body)
    hooks = re.findall(r"notify(?:_master|_backup|_fault|_stop)?\s+\"?([^\"\n]*haminion[^\"\n]*)", body)
    yield (bool(instances), f"keepalived.conf defines {len(instances)} vrrp_instance(s)",
           "define a vrrp_instance (see the state tree states/keepalived)")
    yield (bool(hooks), "notify hooks call haminion's hook",
           f'in each vrrp_instance add: notify "{shutil.which("haminion-hook") or "haminion-hook"} -c {cfg.path}"')
    wrong = [h for h in hooks if str(cfg.path) not in h and "-c" in h]
    yield (not wrong, "the hooks name this minion.yaml", f"use -c {cfg.path} in: {'; '.join(wrong)}")
    if cfg.fifo:
        wired = re.search(r"notify_fifo\s+\"?" + re.escape(str(cfg.fifo)), body) is not None
        yield (wired, f"notify_fifo writes to {cfg.fifo}", f"in global_defs add: notify_fifo {cfg.fifo}")
    if "enable_script_security" in body:
        yield (True, "script security is enabled", "")
    else:
        yield (False, "script security is off (keepalived warns and may refuse scripts)",
               "in global_defs add: enable_script_security and script_user root")


def check_keepalived_tmpdir(pid: int | None) -> Iterator[Check]:
    """keepalived writes its state dump into $TMPDIR: reconciliation needs that folder to be this keepalived's."""
    if pid is None:
        return
    try:
        folder, others = keepalived.tmpdir(pid), keepalived.sharing_tmpdir(pid)
    except StateError as exc:
        yield (False, f"keepalived's TMPDIR can be read ({exc})", "run doctor as root")
        return
    shown = "/" + str(folder.relative_to(f"/proc/{pid}/root"))
    yield (not others, f"keepalived's TMPDIR {shown} is its own" + (
        f" (shared with keepalived pid {', '.join(map(str, others))})" if others else ""),
        "give each keepalived a private TMPDIR (systemd: PrivateTmp=yes, or Environment=TMPDIR=/run/keepalived"
        " in its unit); until then its state dumps are not used")


def check_hook_spool(cfg: MinionConfig) -> Iterator[Check]:
    """The hook (a line scan) and the daemon (YAML) must see one spool, and nothing may wait in the fallback."""
    from hamaster.minion import hook

    fix = "write spool_dir: as a plain one-line string at the top level, once (e.g. spool_dir: /var/spool/hamaster)"
    try:
        hook_dir = hook.spool_dir_of(str(cfg.path))
    except (OSError, ValueError) as exc:
        yield (False, f"the hook cannot read spool_dir: {exc}", fix)
    else:
        same = os.path.realpath(hook_dir) == os.path.realpath(cfg.spool_dir)
        yield (same, f"the hook and the daemon use one spool ({cfg.spool_dir})" if same else
               f"the hook spools to {hook_dir}, the daemon reads {cfg.spool_dir}", fix)
    private = hook.private_root()  # a hook run as this user (not root) keeps its fallback spool there
    if private is not None and os.path.lexists(private):
        try:
            hook.check_private(private)
            yield (True, f"the hook's fallback folder {private} is private to this user", "")
        except OSError as exc:
            yield (False, f"the hook's fallback folder is not used: {exc}",
                   f"remove {private} (someone else made it); the hook makes its own")
    inbox = Path(hook.fallback_dir(str(cfg.path))) / "inbox"
    waiting = len(list(inbox.glob("*.ev"))) if inbox.is_dir() else 0
    yield (waiting == 0, f"no hook events wait in the fallback spool {inbox.parent}" if not waiting else
           f"{waiting} hook event(s) wait in the fallback spool {inbox.parent} (each says why)",
           f"fix what the hook says in keepalived's log, and run the daemon: haminion run -c {cfg.path}")


def run_checks(cfg: MinionConfig, keepalived_conf: Path, keepalived_pid: int | None = None) -> Iterator[Check]:
    key = cfg.secret_key_file
    yield (key.is_file(), f"secret key {key} exists", "copy the minion folder made by `hamaster init` to this node")
    if key.is_file():
        mode = stat.S_IMODE(key.stat().st_mode)
        yield (mode & 0o077 == 0, f"secret key is private (mode {mode:o})", f"chmod 600 {key}")
    spool_ok = cfg.spool_dir.is_dir() and os.access(cfg.spool_dir, os.W_OK)
    yield (spool_ok, f"spool {cfg.spool_dir} is writable", f"mkdir -p {cfg.spool_dir} (as the user keepalived runs)")
    yield from check_hook_spool(cfg)
    inbox = cfg.spool_dir / "inbox"
    waiting = len(list(inbox.glob("*.ev"))) if inbox.is_dir() else 0
    daemon = _daemon_listening(cfg.spool_dir)
    yield (daemon, "the minion daemon is running" + (f" ({waiting} hook events waiting)" if waiting else ""),
           f"start it: haminion run -c {cfg.path} (or systemctl start haminion)")
    for address in cfg.masters:
        yield (_master_reachable(address), f"master {address} is reachable",
               "check the address, the master's firewall, and that `hamaster master` runs")
    haminion = shutil.which("haminion")
    if haminion:
        mode = os.stat(haminion).st_mode
        yield (not mode & (stat.S_IWGRP | stat.S_IWOTH), f"{haminion} is not writable by group/others",
               f"chmod go-w {haminion} (keepalived's script security requires it)")
    if keepalived_conf.is_file():
        yield from check_keepalived_conf(keepalived_conf.read_text(errors="replace"), cfg)
    else:
        yield (False, f"{keepalived_conf} exists", "give its path with --keepalived-conf")
    yield from check_keepalived_tmpdir(keepalived_pid if keepalived_pid is not None else keepalived.keepalived_pid())
