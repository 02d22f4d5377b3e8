"""`hamaster check [--json]`: is every pair ready to lose its MASTER? Findings, each with what to do.

Exit code for monitoring systems (Nagios' convention): 0 ready (info findings at most), 1 warnings, 2 an
error (a failover would not work, or does not now).
"""

import json
from pathlib import Path

import click

from hamaster.core.config import MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, StoreError, TransportError
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.drills.checks import drift_findings, findings
from hamaster.master.drills.readiness import Finding
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.store import drills


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


@click.command()
@config_option
@click.option("--states", "states_dir", type=click.Path(file_okay=False), default=None,
              help="the state tree `apply` uses, for drift [default: state_root of master.yaml]")
@click.option("--pillar", "pillar_dir", type=click.Path(file_okay=False), default=None,
              help="its pillar, as `apply --pillar` [default: pillar_root, or DIR/pillar]")
@click.option("--json", "as_json", is_flag=True, help="findings as JSON")
def check(config_path: str | None, states_dir: str | None, pillar_dir: str | None, as_json: bool) -> None:
    """Readiness of every pair: findings with what to do; exit 0 ready, 1 warnings, 2 errors."""
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
    if as_json:
        click.echo(json.dumps({"ready": not any(f.severity == "error" for f in found),
                               "findings": [f.as_dict() for f in found]}, indent=2))
    elif snap is not None and not [f for f in found if f.severity != "info"]:
        click.echo(f"ready: {len(snap.minions())} minions, every pair has a MASTER and a BACKUP that can take over")
    for f in [] if as_json else found:
        click.echo(f.line())
    severities = {f.severity for f in found}
    code = 2 if "error" in severities else 1 if "warning" in severities else 0
    if code:
        raise click.exceptions.Exit(code)
