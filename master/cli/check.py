"""`hamaster check [--json] [--no-live]`: is every pair ready to lose its MASTER? Findings, each with what to do.

Two sources: what the store knows (master/drills/checks.py: states, configs, drift, open incidents), and by
default the nodes' live view (master/drills/live.py): a read-only `keepalived.readiness` job on every
connected minion, waited for at most LIVE_TIMEOUT_S (a minion that does not answer is a finding, not a hang).
`--no-live` keeps to the store (fast). In --json each finding says its `source` ("store" or "live").

Exit code for monitoring systems (Nagios' convention): 0 ready (info findings at most), 1 warnings, 2 an
error (a failover would not work, or does not now), 3 unknown: check itself was called wrongly (a bad option,
a broken master.yaml), so a typo in the monitor's command never reads as a broken pair.
"""

import json
from pathlib import Path
from typing import Any

import click

from hamaster.core.config import MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, HamasterError, StoreError, TransportError
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.cli import config_option, one_line
from hamaster.master.drills import live
from hamaster.master.drills.checks import drift_findings, findings
from hamaster.master.drills.readiness import Finding
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.store import drills

LIVE_TIMEOUT_S = 10.0  # the readiness job takes ~3 advert intervals and two dumps: some 3.5 s at advert_int 1


def drift(cfg: MasterConfig, snap: Snapshot, states_dir: str | None, pillar_dir: str | None) -> list[Finding]:
    """Render each minion's keepalived.conf as `hamaster apply` would, and compare it with the live one."""
    from hamaster.master.cli.apply import choose_pillar
    from hamaster.master.states.rolling import plan_minion

    state_root = Path(states_dir) if states_dir else cfg.state_root
    if not (state_root / "top.sls").is_file():
        if states_dir:
            raise ConfigError(f"{state_root}: no such state tree (a folder with top.sls)")
        return [Finding("info", None, None, f"drift not checked: no state tree at {state_root} (state_root)",
                        "give --states DIR (and --pillar DIR) as you give them to `hamaster apply`")]
    pillar_root = Path(pillar_dir) if pillar_dir else choose_pillar(cfg.pillar_root, state_root, cfg.path)
    rendered = {m: plan_minion(state_root, pillar_root, m, snap.grains.get(m, {}), True).keepalived_conf
                for m in snap.minions() if snap.configs.get(m, {}).get("sha256")}
    hint = f"hamaster apply {state_root}" + (f" --pillar {pillar_root}" if pillar_dir else "")
    return drift_findings(snap, rendered, hint)


def live_probe(cfg: MasterConfig, snap: Snapshot, timeout_s: float) -> tuple[list[Finding], dict[str, Any]]:
    """Ask every connected minion for its live view; findings from the answers, and what --json shows of it."""
    from hamaster.master.cli import control

    asked = [m for m in snap.minions() if snap.online.get(m)]  # one not connected is a store finding already
    # record=False: a test-mode job left out of the jobs table, so a monitoring system's every check is not an
    # "apply --test" row in the timeline (only test jobs may go unrecorded: a real one makes transitions planned)
    results = control.call(cfg, "run", timeout=timeout_s + 5, targets={m: live.job() for m in asked},
                           timeout_s=timeout_s, test=True, record=False)["results"] if asked else {}
    reports = {m: live.report_of(results.get(m)) for m in asked}
    marks = live.failure_marks(reports)

    def read(conn: store.Connection) -> tuple[int | None, dict[tuple[str, str], int | None]]:
        failed = {key: max((t for inst, prio in where if (t := drills.last_vrrp_at(conn, key[0], inst, prio))),
                           default=None) for key, where in marks.items()}
        return drills.oldest_vrrp(conn), failed
    oldest, failures = store.read(cfg.store, read) or (None, {})
    history_s = (now_ns() - oldest) / 1e9 if oldest else None
    found = live.findings(reports, failures, history_s, now_ns(), timeout_s, snap.group_of)
    return found, {"asked": asked, "answered": sorted(m for m, r in reports.items() if isinstance(r, dict)),
                   "history_days": None if history_s is None else round(history_s / 86400, 2),
                   "notes": live.notes(history_s)}


UNKNOWN = 3  # Nagios: the check could not tell


class _Unknown(click.UsageError):
    exit_code = UNKNOWN


class _NagiosCommand(click.Command):
    """check itself failing exits UNKNOWN (3): a usage error (click's 2, which a monitor reads as CRITICAL),
    a broken master.yaml or pillar_root, a --states that is not there (1, a WARNING)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _Unknown(exc.message, exc.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HamasterError as exc:
            click.echo(f"hamaster: error: {one_line(exc)}", err=True)
            raise click.exceptions.Exit(UNKNOWN) from None


@click.command(cls=_NagiosCommand)
@config_option
@click.option("--states", "states_dir", type=click.Path(file_okay=False), default=None,
              help="the state tree `apply` uses, for drift [default: state_root of master.yaml]")
@click.option("--pillar", "pillar_dir", type=click.Path(file_okay=False), default=None,
              help="its pillar, as `apply --pillar` [default: pillar_root, or DIR/pillar]")
@click.option("--json", "as_json", is_flag=True, help="findings as JSON")
@click.option("--live/--no-live", default=True, show_default=True,
              help="ask each node's minion for keepalived's live view (adverts, auth, scripts, wiring); "
                   "--no-live: the store only, fast")
@click.option("--live-timeout", type=click.FloatRange(min=1.0), default=LIVE_TIMEOUT_S, show_default=True,
              help="seconds to wait for the minions' live answers (at least 1: each takes ~3 advert intervals)")
def check(config_path: str | None, states_dir: str | None, pillar_dir: str | None, as_json: bool, live: bool,
          live_timeout: float) -> None:
    """Readiness of every pair: findings with what to do; exit 0 ready, 1 warnings, 2 errors, 3 check itself
    called wrongly."""
    from hamaster.master.cli import control

    cfg = load_master_config(config_path)
    down = []
    try:
        status = control.call(cfg, "status", timeout=5)
    except control.Unreachable:
        raise  # maybe running, not ours to ask: say so, do not call it down
    except TransportError:
        status = None  # what the store knows still tells about the pairs
        down = [Finding("error", None, None, f"the master does not answer on {cfg.control}: nobody watches the "
                        "pairs, no alert goes out", "start `hamaster master` (docs/systemd/hamaster-master.service)")]
    try:
        snap = Snapshot.load(cfg, status)
    except StoreError as exc:  # no store yet (a master that never ran), or one we cannot read
        snap, found = None, [*down, Finding("error", None, None, str(exc), "start `hamaster master`: it makes the "
                                            "store; check that this user may read it")]
    if snap is not None:
        last = store.read(cfg.store, drills.last_drill)  # None too for a store from before drills
        found = down + findings(snap, last.started_ns if last else None) + drift(cfg, snap, states_dir, pillar_dir)
    seen: list[Finding] = []
    shown: dict[str, Any] = {"asked": [], "answered": [], "notes": []}
    if live and snap is not None and status is not None:
        seen, shown = live_probe(cfg, snap, live_timeout)
        found += seen
    live_ids = {id(f) for f in seen}
    if as_json:
        click.echo(json.dumps({"ready": not any(f.severity == "error" for f in found),
                               "findings": [dict(f.as_dict(), source="live" if id(f) in live_ids else "store")
                                            for f in found], "live": shown if live else None}, indent=2))
    elif snap is not None and not [f for f in found if f.severity != "info"]:
        click.echo(f"ready: {len(snap.minions())} minions, every pair has a MASTER and a BACKUP that can take over")
    for f in [] if as_json else found:
        click.echo(f.line())
    for note in [] if as_json else shown["notes"]:
        click.echo(f"note: {note}")
    severities = {f.severity for f in found}
    code = 2 if "error" in severities else 1 if "warning" in severities else 0
    if code:
        raise click.exceptions.Exit(code)
