"""`hamaster check [--json]`: is every pair ready to lose its MASTER? Findings, each with what to do.

Exit code for monitoring systems (Nagios' convention): 0 ready (info findings at most), 1 warnings, 2 an
error (a failover would not work, or does not now).
"""

import json

import click

from hamaster.core.config import load_master_config
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.cli.drain import snapshot
from hamaster.master.drills.checks import findings
from hamaster.master.store import drills


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="findings as JSON")
def check(config_path: str | None, as_json: bool) -> None:
    """Readiness of every pair: findings with what to do; exit 0 ready, 1 warnings, 2 errors."""
    cfg = load_master_config(config_path)
    snap = snapshot(cfg)
    last = store.read(cfg.store, drills.last_drill)
    found = findings(snap, last.started_ns if last else None)
    if as_json:
        click.echo(json.dumps({"ready": not any(f.severity == "error" for f in found),
                               "findings": [f.as_dict() for f in found]}, indent=2))
    elif not [f for f in found if f.severity != "info"]:
        click.echo(f"ready: {len(snap.minions())} minions, every pair has a MASTER and a BACKUP that can take over")
    for f in [] if as_json else found:
        click.echo(f.line())
    severities = {f.severity for f in found}
    code = 2 if "error" in severities else 1 if "warning" in severities else 0
    if code:
        raise click.exceptions.Exit(code)
