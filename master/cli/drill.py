"""`hamaster drill`: prove, on the pair you run, that the standby takes over, and how long users wait.

Per pair: readiness first (refuse before touching anything); drain the holder (`hamaster drain`'s track file),
measure the outage users saw (the master's VIP probe) and the VRRP gap (the nodes' transitions), check the
new holder serves the page, undrain (unless --stay) and measure the failback. At the first sign of trouble
(the peer not taking over within --bound, the VIP answering nobody, a node going silent) the holder is
undrained and the drill fails (exit 1). Every drill, refused or not, is stored: `hamaster timeline --kind drill`.
"""

import json
import sys
import time
from typing import Any

import click

from hamaster.core.config import MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, HamasterError
from hamaster.core.timeutil import now_ns, to_datetime
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.cli.drain import came_back, set_drained, snapshot
from hamaster.master.correlate.grouping import VrrpGroup
from hamaster.master.drills import figures
from hamaster.master.drills.readiness import Finding, peer_findings, peers
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.intake.probe import VipProbe
from hamaster.master.store import drills

NOBODY_FOR_S = 3.0  # the VIP answering nobody this long during a takeover is trouble, not a handover
REPORTED_S = 5.0  # the new holder's minion says its takeover within ms; this long without a word is trouble


class Trouble(HamasterError):
    """The drill saw something wrong and put the holder back."""


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 1)


def pick_instances(snap: Snapshot, instance: str | None, whole_site: bool) -> list[str]:
    """The labels of the groups to drill (grouping.py: the instance name where it is unique). An instance
    name that several pairs share is refused, naming each group's label to give instead: a drill moves
    users' traffic, so it moves only the pair the operator means (`--site` drills them all)."""
    groups = snap.groups()
    known = [g.label for g in groups]
    if instance:
        if not any(instance in (g.label, g.key) or instance in g.instances for g in groups):
            raise ConfigError(f"--instance {instance}: no such VRRP instance (known: {', '.join(known) or 'none'})")
        try:
            return [snap.group(instance).label]
        except ConfigError as exc:
            raise ConfigError(f"--instance {exc}") from None
    if whole_site or len(known) == 1:
        return known
    raise ConfigError(f"the site has {len(known) or 'no'} instances ({', '.join(known)}): give --instance I or --site")


def readiness(snap: Snapshot, which: VrrpGroup | str) -> tuple[str | None, str | None, list[Finding]]:
    """(holder, peer, findings that stop the drill)."""
    g = snap.group(which)
    masters = [m for m in g.nodes if snap.state_in(m, g) == "MASTER"]
    if len(masters) != 1:
        what = "no MASTER" if not masters else f"two MASTERs ({', '.join(masters)})"
        return None, None, [Finding.of("error", g, None, f"{g.label} has {what}",
                                       "`hamaster check` and `hamaster timeline --since 1h` say why; fix it first")]
    holder = masters[0]
    candidates = peers(snap, g, holder)
    if not candidates:
        return holder, None, [Finding.of("error", g, holder, f"{g.label} has no peer",
                                         "a pair needs two nodes with the same vrrp_instance")]
    best: tuple[str, list[Finding]] | None = None
    for p in candidates:
        found = peer_findings(snap, g, p)
        if best is None or len(found) < len(best[1]):
            best = (p, found)
    assert best is not None
    return holder, best[0], best[1]


def _answers(cfg: MasterConfig, vip: str, since_ns: int) -> list[tuple[int, str | None]]:
    return store.read(cfg.store, lambda conn: drills.probe_answers(conn, vip)) or []


def watch_takeover(cfg: MasterConfig, vip: str, holder: str, peer: str, since_ns: int, bound_s: float) -> int:
    """Until the probe sees `peer` answer on `vip`; its time. Trouble when it does not within `bound_s`, when the
    VIP answers nobody for NOBODY_FOR_S, or when a minion goes silent."""
    from hamaster.master.cli import control

    deadline, next_liveness = time.monotonic() + bound_s, 0.0
    while True:
        answers = _answers(cfg, vip, since_ns)
        took = figures.first_answer(answers, since_ns, peer)
        if took is not None:
            return took
        last_ts, last_who = answers[-1] if answers else (since_ns, None)
        if last_who is None and now_ns() - max(last_ts, since_ns) > NOBODY_FOR_S * 1e9:
            raise Trouble(f"the VIP {vip} answered nobody for {NOBODY_FOR_S:g} s")
        if time.monotonic() > next_liveness:
            live = control.call(cfg, "status", timeout=5).get("minions", {})
            silent = [m for m in (holder, peer) if not live.get(m, {}).get("online")]
            if silent:
                raise Trouble(f"{', '.join(silent)} went silent")
            next_liveness = time.monotonic() + 1.0
        if time.monotonic() > deadline:
            raise Trouble(f"{peer} did not take {vip} over within {bound_s:g} s")
        time.sleep(0.05)


def reported(cfg: MasterConfig, instance: str, holder: str, peer: str, since_ns: int) -> None:
    """The new holder's minion must say its takeover (a MASTER is believed only while its node vouches for it):
    trouble when the transition does not come within REPORTED_S. The probe sees the VIP move before the
    master would call a dead minion silent, so this is what catches one that died as the drill began."""
    deadline = time.monotonic() + REPORTED_S
    while True:
        transitions = store.read(cfg.store, lambda conn: drills.vrrp_since(conn, since_ns - 10**9)) or []
        if figures.vrrp_gap_ns(transitions, instance, holder, peer, since_ns) is not None:
            return
        if time.monotonic() > deadline:
            raise Trouble(f"{peer} took the VIP over but its minion did not say so within {REPORTED_S:g} s"
                          " (is it running? `haminion doctor` on it)")
        time.sleep(0.05)


def _incidents(cfg: MasterConfig, since_ns: int) -> list[dict[str, Any]]:
    rows = store.read(cfg.store, lambda conn: drills.incidents_since(conn, since_ns)) or []
    return [{"id": i, "kind": k, "severity": s, "at": to_datetime(t).isoformat(), "summary": summ, "planned": bool(p)}
            for i, k, s, t, summ, p in rows]


def _alerts(cfg: MasterConfig, incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deliveries the drill's incidents made: sent, or suppressed as planned (what would have gone out
    had this been unplanned). Waited for a few seconds: the notifier routes in its own thread."""
    ids = [i["id"] for i in incidents]
    deadline = time.monotonic() + 5
    while True:
        rows = store.read(cfg.store, lambda conn: drills.deliveries_of(conn, ids)) or []
        routed = {r[0] for r in rows}
        if time.monotonic() > deadline or all(i["id"] in routed for i in incidents if i["severity"] != "info"):
            break
        time.sleep(0.2)
    by_id = {i["id"]: i for i in incidents}  # a held delivery has no title yet: say its incident
    return [{"incident": iid, "kind": by_id[iid]["kind"], "route": route, "target": target, "status": status,
             "why": why, "title": title or f"[{by_id[iid]['severity']}] {by_id[iid]['summary']}"}
            for iid, route, target, status, why, title in rows]


def _correlator_gap(cfg: MasterConfig, since_ns: int, old: str, new: str) -> int | None:
    """The failover incident's own gap (the correlator's account), waited for a few seconds."""
    from hamaster.master.store import incidents

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = store.read(cfg.store, lambda conn: incidents.query(conn, kind="failover")) or []
        for inc in found:
            d = inc.data
            if inc.started_ns >= since_ns - 10**9 and (d.get("old_holder"), d.get("new_holder")) == (old, new):
                gap = d.get("gap_ns")
                return int(gap) if isinstance(gap, int | float) else None
        time.sleep(0.2)
    return None


def drill_one(cfg: MasterConfig, snap: Snapshot, which: VrrpGroup | str, *, stay: bool, bound_s: float,
              say: Any) -> drills.Drill:
    started = now_ns()
    g = snap.group(which)
    holder, peer, blocking = readiness(snap, g)
    instance = (g.instance_of(holder) if holder else None) or g.instance  # as the holder's keepalived names it
    errors = [f for f in blocking if f.severity == "error"]
    if errors or holder is None or peer is None:
        return drills.Drill(started, now_ns(), instance, holder, peer, False,
                            "refused: " + "; ".join(f.problem for f in errors),
                            {"group": g.label, "refused": [f.as_dict() for f in errors], "figures": {}})
    vips = snap.vips_of(holder, instance)
    if not vips:
        raise ConfigError(f"{cfg.path}: no probe names {holder} (`probes:`): the drill measures with the VIP probe")
    vip = vips[0]
    say(f"{g.label}: {holder} holds {vip}; {peer} is ready. draining {holder}")
    data: dict[str, Any] = {"group": g.label, "vip": vip, "steps": []}

    def step(name: str, at_ns: int, text: str) -> None:
        data["steps"].append({"name": name, "at": to_datetime(at_ns).isoformat(), "text": text})
        say(f"  {text}")

    drained_ns = now_ns()
    set_drained(cfg, snap, holder, True, (instance,))
    try:
        took = watch_takeover(cfg, vip, holder, peer, drained_ns, bound_s)
        step("takeover", took, f"{peer} answers on {vip} {(took - drained_ns) / 1e9:.2f} s after the drain")
        page = VipProbe(vip, timeout=1.0, nodes=snap.minions()).ask()
        if page != peer:
            raise Trouble(f"{vip} answered {page or 'nobody'}, not {peer}, after the takeover")
        step("serves", now_ns(), f"{peer} serves the page on {vip}")
        reported(cfg, instance, holder, peer, drained_ns)
    except HamasterError as exc:
        say(f"  trouble: {exc}; putting {holder} back")
        set_drained(cfg, snap, holder, False, ())
        try:
            came_back(cfg, snap, holder, (instance,), 30)
            restored = f"{holder} restored"
        except HamasterError as again:
            restored = f"{holder} NOT restored: {again}"
        say(f"  {restored}")
        return drills.Drill(started, now_ns(), instance, holder, peer, False, f"stopped: {exc}; {restored}",
                            {**data, "trouble": str(exc), "figures": {}})
    answers = _answers(cfg, vip, drained_ns)
    transitions = store.read(cfg.store, lambda conn: drills.vrrp_since(conn, drained_ns - 10**9)) or []
    figs: dict[str, Any] = {
        "outage_ms": _ms(figures.outage_ns(answers, drained_ns, took)),
        "vrrp_gap_ms": _ms(figures.vrrp_gap_ns(transitions, instance, holder, peer, drained_ns)),
        "correlator_gap_ms": _ms(_correlator_gap(cfg, drained_ns, holder, peer)),
        "takeover_s": round((took - drained_ns) / 1e9, 2),
    }
    if not stay:
        back_ns = now_ns()
        set_drained(cfg, snap, holder, False, ())
        back = came_back(cfg, snap, holder, (instance,), 30)
        if not back:  # nopreempt: BACKUP again, the VIP stays with the peer
            figs["failback_s"] = None
            step("failback", now_ns(), f"{holder} is BACKUP again; nopreempt leaves {vip} on {peer}: no failback")
        else:
            at = max(ts for ts, _ in back.values())
            answers = _answers(cfg, vip, back_ns)
            figs["failback_s"] = round((at - back_ns) / 1e9, 2)
            figs["failback_outage_ms"] = _ms(figures.outage_ns(answers, back_ns, at))
            step("failback", at, f"{holder} answers on {vip} again {(at - back_ns) / 1e9:.2f} s after the undrain")
    figs["total_s"] = round((now_ns() - started) / 1e9, 2)
    data["figures"] = figs
    data["incidents"] = _incidents(cfg, drained_ns)
    data["alerts"] = _alerts(cfg, data["incidents"])
    summary = (f"{holder} -> {peer}: users waited {figs['outage_ms']:.0f} ms (probe), VRRP gap "
               f"{'-' if figs['vrrp_gap_ms'] is None else format(figs['vrrp_gap_ms'], '.0f') + ' ms'}"
               + ("" if stay else f", back in {figs['failback_s']:.1f} s" if figs.get("failback_s") is not None
                  else ", no failback (nopreempt)") + f", {figs['total_s']:.1f} s in all")
    return drills.Drill(started, now_ns(), instance, holder, peer, True, summary, data)


@click.command()
@config_option
@click.option("--instance", help="the VRRP instance (pair) to drill [default: the only one]; where pairs share "
              "the name, the group's label that `hamaster check` prints")
@click.option("--site", "whole_site", is_flag=True, help="drill every pair, one after the other")
@click.option("--stay", is_flag=True, help="leave the VIP on the peer (the holder stays drained)")
@click.option("--bound", "bound_s", type=float, default=15.0, show_default=True,
              help="seconds the peer has to take the VIP over before the drill stops and restores")
@click.option("--json", "as_json", is_flag=True, help="the drills as JSON")
def drill(config_path: str | None, instance: str | None, whole_site: bool, stay: bool, bound_s: float,
          as_json: bool) -> None:
    """Prove the standby takes over: drain the holder, measure the outage (probe) and VRRP gap, undrain;
    stored in the timeline."""
    cfg = load_master_config(config_path)
    snap = snapshot(cfg)
    done = []
    for inst in pick_instances(snap, instance, whole_site):
        d = drill_one(cfg, snap, inst, stay=stay, bound_s=bound_s,
                      say=lambda text: click.echo(text, err=as_json))
        conn = store.connect(cfg.store)
        try:
            did = drills.insert_drill(conn, d)
        finally:
            conn.close()
        done.append((did, d))
        if not d.ok:
            break
        snap = snapshot(cfg)  # the next pair as it is now
    if as_json:
        click.echo(json.dumps([{"id": did, "instance": d.instance, "holder": d.holder, "peer": d.peer, "ok": d.ok,
                                "summary": d.summary, "started": to_datetime(d.started_ns).isoformat(),
                                **d.data, "timeline": _timeline(cfg, d, None)} for did, d in done], indent=2))
    else:
        for did, d in done:
            _report(cfg, did, d)
    if not all(d.ok for _, d in done):
        raise click.exceptions.Exit(1)


def _report(cfg: MasterConfig, did: int, d: drills.Drill) -> None:
    click.echo(f"drill #{did} {d.data.get('group') or d.instance}: {'ok' if d.ok else 'FAILED'}: {d.summary}")
    for f in d.data.get("refused", []):
        click.echo(f"  {f['severity']}: {f['problem']} -> {f['todo']}")
    figs = d.data.get("figures", {})
    if figs:
        click.echo("  " + ", ".join(f"{k} {v}" for k, v in figs.items()))
    for i in d.data.get("incidents", []):
        quiet = " (planned: quiet)" if i["planned"] else ""
        click.echo(f"  incident #{i['id']} {i['severity']} {i['kind']}: {i['summary']}{quiet}")
    would = [a for a in d.data.get("alerts", []) if a["status"] == "suppressed"]
    sent = [a for a in d.data.get("alerts", []) if a["status"] != "suppressed"]
    if would:
        click.echo(f"  alerts that would have gone out unplanned ({len(would)}, held as planned):")
        for a in would:
            click.echo(f"    {a['route']} {a['target']}: {a['title']}")
    for a in sent:
        click.echo(f"  alert {a['status']} {a['route']} {a['target']}: {a['title']}")
    if d.data.get("figures"):
        _timeline(cfg, d, sys.stdout)


def _timeline(cfg: MasterConfig, d: drills.Drill, out: Any) -> list[dict[str, Any]]:
    """The drill's window in the timeline (transitions, incidents, drains): printed as a table to `out`, or
    returned as the JSON rows of `timeline --format json`."""
    from hamaster.master.timeline import formats as tf
    from hamaster.master.timeline import rows as tl

    q = tl.Query(since_ns=d.started_ns, until_ns=d.ended_ns + 10**9, kinds=("vrrp", "incident", "drain"))
    conn = store.connect(cfg.store, readonly=True)
    try:
        if out is None:
            return [tf.to_json(r) for r in tl.timeline(conn, q)]
        tf.write(tl.timeline(conn, q), out, "table", tf.parse_tz(None), title=f"drill #{d.id or ''} timeline",
                 color=False)
        return []
    finally:
        conn.close()
