"""`hamaster apply [DIR]`: render, compile and lint per minion on the master, then run the jobs, rolling.

Rolling (the default when targets share a VRRP instance, as the store knows from their events): the current
BACKUPs of all pairs and the minions in no pair first, together, waiting until their states succeeded and
each BACKUP is BACKUP again; then the MASTERs, together. A pair never has both members in flight, and 500
pairs roll in two waves, not 1,000. The first failure stops the run and leaves the rest, the MASTERs above
all, untouched.
"""

import fnmatch
import sys
from pathlib import Path

import click

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError, ConfigFileError
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.states.pairlint import Lint, lint
from hamaster.master.states.rolling import Wave, plan_minion, run_waves, succeeded, wait_backup, waves_for

DETAILS_UP_TO = 10  # more minions than this: a summary, not a screen per minion


@click.command()
@click.argument("state_dir", required=False, type=click.Path(file_okay=False))
@config_option
@click.option("-t", "--target", default="*", show_default=True, help="minion ids to apply to (glob)")
@click.option("--test", is_flag=True, help="change nothing; show what would change, with diffs")
@click.option("--pillar", "pillar_dir", type=click.Path(file_okay=False),
              help="pillar tree [default: pillar_root of master.yaml, or DIR/pillar when that does not exist]")
@click.option("--no-rolling", is_flag=True, help="apply to all targets at once, even to an HA pair")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="seconds to wait for each minion's answer, and for a BACKUP to be BACKUP again")
@click.option("--json", "as_json", is_flag=True, help="results as JSON")
@click.option("--summary/--details", default=None,
              help=f"one line per minion that changed or failed, or every state [default: details up to "
                   f"{DETAILS_UP_TO} minions]")
def apply(state_dir: str | None, config_path: str | None, target: str, test: bool, pillar_dir: str | None,
          no_rolling: bool, timeout: float, as_json: bool, summary: bool | None) -> None:
    """Configure the targeted minions from the state tree, Salt-style (backup first for an HA pair)."""
    from rich.console import Console

    from hamaster.master.cli import control
    from hamaster.master.states import highstate

    cfg = load_master_config(config_path)
    conn = store.connect(cfg.store, readonly=True)
    try:
        grains, vrrp = store.minion_grains(conn), store.current_vrrp_states(conn)
    finally:
        conn.close()
    targets = sorted(m for m in grains if fnmatch.fnmatchcase(m, target))
    if not targets:
        raise ConfigError(f"-t {target!r} matches no known minion (known: {', '.join(sorted(grains)) or 'none'})")
    state_root = Path(state_dir) if state_dir else cfg.state_root
    if not state_root.is_dir():
        raise ConfigError(f"{state_root}: no such state tree (a folder with top.sls)")
    pillar_root = Path(pillar_dir) if pillar_dir else choose_pillar(cfg.pillar_root, state_root, cfg.path)
    plans = {m: plan_minion(state_root, pillar_root, m, grains[m], test) for m in targets}
    secrets = sorted({s for p in plans.values() for s in p.secrets})
    # each node's addresses as its grains gave them (lint checks unicast_src_ip against them)
    addresses = {m: [str(a) for a in g["addresses"]] for m, g in grains.items()
                 if m in plans and isinstance(g.get("addresses"), list) and g["addresses"]}
    lints: list[Lint] = lint({m: p.keepalived_conf for m, p in plans.items() if p.keepalived_conf}, addresses)

    console = Console(highlight=False, soft_wrap=True, stderr=False)
    if not as_json:
        highstate.print_lints(console, lints)
    if any(x.severity == "error" for x in lints) and not test:
        if as_json:
            click.echo(highstate.as_json({}, lints, {}, secrets))
        raise ConfigError("pair lint found errors: nothing was changed")

    waves = [Wave(targets, {})] if test or no_rolling else waves_for(targets, vrrp)
    results, notes = run_waves(
        waves, plans,
        send=lambda jobs: control.run_jobs(cfg, jobs, timeout=timeout, test=test),
        wait=lambda waits: wait_backup(cfg.store, waits, timeout),
    )
    for m, r in results.items():
        if r is None and notes.get(m) == "no answer within the timeout":
            notes[m] = f"{m} did not answer within {timeout:g} s"
    if as_json:
        click.echo(highstate.as_json(results, lints, notes, secrets))
    elif summary or (summary is None and len(results) > DETAILS_UP_TO):
        highstate.print_summary(console, results, notes, secrets)
    else:
        highstate.print_highstate(console, results, notes, secrets)
    if not all(succeeded(r) for r in results.values()):
        sys.stdout.flush()
        raise click.exceptions.Exit(1)


def choose_pillar(configured: Path, state_root: Path, config: Path) -> Path:
    """The site's pillar_root; when that folder does not exist, the pillar beside the states (DIR/pillar, as in
    the shipped states/), saying so on stderr. `hamaster init` names a pillar_root the operator fills later."""
    if configured.is_dir():
        return configured
    beside = state_root / "pillar"
    if beside.is_dir():
        click.echo(f"pillar tree: {beside} (pillar_root {configured} of {config} does not exist)", err=True)
        return beside
    raise ConfigFileError(f"{configured}: no such pillar tree (pillar_root of {config}), and no {beside}: "
                      "make one (a folder with top.sls) or give --pillar DIR")
