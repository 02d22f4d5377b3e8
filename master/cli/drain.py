"""`hamaster drain NODE` / `hamaster undrain NODE`: move every VIP away from a node and back, planned.

The mechanism is keepalived's own `track_file` (wired by states/, pillar `drain:`): the minion writes 1 into
the file through a job, keepalived lowers the node's priority by the track file's weight at once, and the peer
(preempting, as keepalived does by default) takes the VIPs over. Nothing is stopped or reloaded: nginx and
keepalived go on, the node stays a ready BACKUP, a restart of keepalived keeps the mark (the file stays), and
undrain writes 0. Stopping keepalived would do too, but leaves no BACKUP behind and reads as a crash; a
reload with another priority rewrites a config `apply` owns. The job is recorded like an apply's, so the
transitions it causes are planned (quiet alerts, "planned" in the timeline) within the correlator's
planned_grace_s.
"""

import time
from collections.abc import Callable
from typing import Any

import click

from hamaster.core.config import MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, HamasterError
from hamaster.core.protocol import JOB_VERSION
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.drills.readiness import takeover_findings
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.states.pairlint import DRAIN_TRACK
from hamaster.master.store import drills

TRACK_FILE = DRAIN_TRACK  # the track_file's name in states/files/keepalived.conf.j2
JOB_TIMEOUT_S = 20.0


class Refused(HamasterError):
    """Readiness says the peer could not take over: nothing was touched."""


def snapshot(cfg: MasterConfig) -> Snapshot:
    from hamaster.master.cli import control

    return Snapshot.load(cfg, control.call(cfg, "status", timeout=5))


def drain_job(drained: bool, conf: str) -> dict[str, Any]:
    """One chunk: the minion's keepalived.drain state (minion/statemods/drain.py)."""
    chunk = {"key": f"keepalived|{TRACK_FILE}", "id": "drain" if drained else "undrain", "fun": "keepalived.drain",
             "name": TRACK_FILE, "args": {"drained": drained, "conf": conf}, "sls": "hamaster.drain", "req": {}}
    return {"v": JOB_VERSION, "test": False, "mask": [], "chunks": [chunk]}


def set_drained(cfg: MasterConfig, snap: Snapshot, node: str, drained: bool, held: tuple[str, ...]) -> str:
    """Run the job on `node`, record the mark; returns the job id. HamasterError when the state failed."""
    from hamaster.master.cli import control

    job = drain_job(drained, snap.conf_path(node))
    reply = control.call(cfg, "run", timeout=JOB_TIMEOUT_S + 5, targets={node: job}, timeout_s=JOB_TIMEOUT_S,
                         test=False)
    result = reply["results"].get(node)
    if result is None:
        raise HamasterError(f"{node} did not answer the {'drain' if drained else 'undrain'} job within "
                            f"{JOB_TIMEOUT_S:g} s (is its minion connected?)")
    failed = [s for s in result.get("states", []) if s.get("result") is False]
    if failed:
        raise HamasterError(f"{node}: {failed[0].get('comment')}")
    conn = store.connect(cfg.store)
    try:
        drills.record_drain(conn, drills.DrainMark(node, drained, now_ns(), reply.get("jid"), held))
    finally:
        conn.close()
    return str(reply.get("jid"))


def wait_until(cfg: MasterConfig, done: Callable[[store.Connection], Any], timeout: float, what: str) -> Any:
    """Poll the store until `done(conn)` gives something truthy; HamasterError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = store.read(cfg.store, done)
        if value:
            return value
        if time.monotonic() > deadline:
            raise HamasterError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def moved_away(cfg: MasterConfig, snap: Snapshot, node: str, held: list[str], since_ns: int,
               timeout: float) -> dict[str, Any]:
    """Wait until the probe sees every VIP of `node` answered by another node (without a probe: until the
    store says a peer is MASTER of each instance `node` held). Returns {vip or instance: (at_ns, who)}."""
    vips = snap.vips_of(node)
    group = {inst: set(snap.group_of(node, inst).nodes) for inst in held}  # its pair's, not a namesake's

    def by_probe(conn: store.Connection) -> dict[str, Any] | None:
        out = {}
        for vip in vips:
            answers = drills.probe_answers(conn, vip)
            last = answers[-1] if answers else (0, None)
            if last[1] in (None, node):
                return None
            out[vip] = last
        return out

    def by_vrrp(conn: store.Connection) -> dict[str, Any] | None:
        states = store.current_vrrp_states(conn)
        out = {}
        for inst in held:
            masters = [(st[2], m) for m, insts in states.items() if (st := insts.get(inst)) and st[0] == "MASTER"
                       and m != node and m in group[inst] and st[2] >= since_ns]
            if not masters or states.get(node, {}).get(inst, ("",))[0] == "MASTER":
                return None
            out[inst] = max(masters)
        return out

    if vips:
        return dict(wait_until(cfg, by_probe, timeout, f"the VIP ({', '.join(vips)}) to be answered by a peer "
                               f"of {node}"))
    return dict(wait_until(cfg, by_vrrp, timeout, f"a peer of {node} to be MASTER")) if held else {}


def came_back(cfg: MasterConfig, snap: Snapshot, node: str, held: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """After undrain: wait until `node` answers its VIPs again (it held them before the drain and preempts).
    Under nopreempt it comes back BACKUP and the VIPs stay on the peer (keepalived's promise): then wait for
    that alone, and say {}: no failback."""
    vips = snap.vips_of(node)

    def backup_again(conn: store.Connection) -> bool:
        states = store.current_vrrp_states(conn).get(node, {})
        return all(states.get(i, ("",))[0] == "BACKUP" for i in held)

    def by_probe(conn: store.Connection) -> dict[str, Any] | None:
        out = {}
        for vip in vips:
            answers = drills.probe_answers(conn, vip)
            if not answers or answers[-1][1] != node:
                return None
            out[vip] = answers[-1]
        return out

    def by_vrrp(conn: store.Connection) -> dict[str, Any] | None:
        states = store.current_vrrp_states(conn).get(node, {})
        return {i: states[i] for i in held} if all(states.get(i, ("",))[0] == "MASTER" for i in held) else None

    if not held:
        return {}
    if stays_backup(snap, node, held):
        wait_until(cfg, backup_again, timeout, f"{node} to be BACKUP again")
        return {}
    if vips:
        return dict(wait_until(cfg, by_probe, timeout, f"{node} to answer on the VIP again"))
    return dict(wait_until(cfg, by_vrrp, timeout, f"{node} to be MASTER again"))


def stays_backup(snap: Snapshot, node: str, held: tuple[str, ...]) -> bool:
    """Undrained, `node` takes none of `held` back: each has nopreempt there."""
    return bool(held) and all(snap.nopreempt(node, i) for i in held)


def check_node(snap: Snapshot, node: str) -> None:
    if node not in snap.minions():
        known = ", ".join(snap.minions()) or "none"
        raise ConfigError(f"{node}: no such minion (known: {known})")


def refuse_unless_ready(snap: Snapshot, node: str) -> None:
    blocked = {i: f for i, f in takeover_findings(snap, node).items() if f}
    if blocked:
        lines = [f.line() for fs in blocked.values() for f in fs]
        raise Refused(f"not draining {node}: no peer ready to take over {', '.join(blocked)} ("
                      + "; ".join(lines) + "); nothing was changed (--force drains anyway)")


@click.command()
@click.argument("node")
@config_option
@click.option("--force", is_flag=True, help="drain even when no peer looks ready (the VIP may go nowhere)")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="seconds to wait for the peer to answer on the VIP")
def drain(node: str, config_path: str | None, force: bool, timeout: float) -> None:
    """Move every VIP away from NODE without stopping anything (keepalived's track_file): planned, reversible."""
    cfg = load_master_config(config_path)
    snap = snapshot(cfg)
    check_node(snap, node)
    if not force:
        refuse_unless_ready(snap, node)
    held = snap.held_by(node)
    started = now_ns()
    jid = set_drained(cfg, snap, node, True, tuple(held))
    try:
        moved = moved_away(cfg, snap, node, held, started, timeout)
    except HamasterError as exc:
        raise HamasterError(f"{node} is drained (job {jid}) but {exc}; `hamaster undrain {node}` puts it"
                            " back") from None
    took = max((at for at, _ in moved.values()), default=now_ns()) - started
    where = ", ".join(f"{k} -> {who}" for k, (_, who) in sorted(moved.items()))
    click.echo(f"{node} drained (job {jid})" + (f": {where} after {took / 1e9:.1f} s" if where else
                                                 f": it held no VIP ({', '.join(held) or 'no instance'})"))


@click.command()
@click.argument("node")
@config_option
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="seconds to wait for NODE to answer on the VIP again")
@click.option("--no-wait", is_flag=True, help="do not wait for the failback")
def undrain(node: str, config_path: str | None, timeout: float, no_wait: bool) -> None:
    """Put NODE back in service: it takes back what it held when drained (keepalived's preemption).

    Under nopreempt it comes back BACKUP and leaves the VIPs where they are."""
    cfg = load_master_config(config_path)
    snap = snapshot(cfg)
    check_node(snap, node)
    mark = snap.drained.get(node)
    held = mark.held if mark and mark.drained else ()
    started = now_ns()
    jid = set_drained(cfg, snap, node, False, ())
    back = {} if no_wait else came_back(cfg, snap, node, held, timeout)
    took = max((at for at, _ in back.values()), default=now_ns()) - started
    if stays_backup(snap, node, held) and not no_wait:
        click.echo(f"{node} in service again (job {jid}): BACKUP; nopreempt leaves the VIPs on the peer")
        return
    click.echo(f"{node} in service again (job {jid})" + (f": answers on {', '.join(sorted(back))} after "
                                                          f"{took / 1e9:.1f} s" if back else ""))
