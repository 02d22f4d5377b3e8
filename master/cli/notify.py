"""`hamaster notify list` (targets and routes, secrets masked) and `hamaster notify test [--tag T]`."""

import logging

import click
from rich.console import Console
from rich.table import Table

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError
from hamaster.master.cli import config_option
from hamaster.notify import config as notify_config
from hamaster.notify.notifier import TargetSender


def _load(config_path: str | None) -> notify_config.NotifyConfig:
    cfg = load_master_config(config_path)
    return notify_config.load(cfg.notify, str(cfg.path), cfg.path.parent)


@click.group()
def notify() -> None:
    """Alert targets (apprise URLs) and routes of the `notify:` section of master.yaml."""


@notify.command("list")
@config_option
def list_(config_path: str | None) -> None:
    """Show targets (as apprise prints them with privacy on: tokens masked) and the routes that use them."""
    ncfg = _load(config_path)
    table = Table("target", "tags", "routes")
    table.add_column("url (masked)", overflow="fold")
    for t in ncfg.targets:
        routes = [r.name for r in ncfg.routes if t in ncfg.targets_for(r)]
        table.add_row(t.name, ", ".join(sorted(t.tags)) or "-", ", ".join(routes) or "-", t.masked)
    Console(soft_wrap=True).print(table)


@notify.command()
@config_option
@click.option("--tag", "tags", multiple=True, help="only targets with this tag (repeatable) [default: all]")
def test(config_path: str | None, tags: tuple[str, ...]) -> None:
    """Send a test message to each target now, and say per target whether it went out."""
    ncfg = _load(config_path)
    targets = [t for t in ncfg.targets if not tags or t.tags & set(tags)]
    if not targets:
        raise ConfigError(f"no notify target{' with tag ' + ', '.join(tags) if tags else ''} in the config")
    sender = TargetSender()
    logging.getLogger("apprise").addHandler(sender)
    failed = 0
    try:
        for t in targets:
            ok, error = sender.send(t, "hamaster test message", "If you read this, hamaster can reach you.",
                                    "info")
            failed += not ok
            click.echo(f"{'sent  ' if ok else 'FAILED'}  {t.name}  {t.masked}" + (f"  ({error})" if error else ""))
    finally:
        logging.getLogger("apprise").removeHandler(sender)
    if failed:
        raise SystemExit(1)
