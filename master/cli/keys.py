"""`hamaster key`: list, accept, reject and delete minion keys (like salt-key)."""

import json

import click

from hamaster.core.config import load_master_config
from hamaster.master.cli import config_option
from hamaster.master.intake.keys import KeyRing


def _keyring(config_path: str | None) -> KeyRing:
    return KeyRing(load_master_config(config_path).pki_dir)


@click.group()
def key() -> None:
    """Manage minion keys: only accepted keys can connect to the master."""


@key.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_(config_path: str | None, as_json: bool) -> None:
    """List keys by status: accepted, pending (refused, waiting for you), rejected."""
    entries = _keyring(config_path).entries()
    if as_json:
        click.echo(json.dumps([{"name": e.name, "status": e.status, "fingerprint": e.fingerprint,
                                "public_key": e.public_key} for e in entries], indent=2))
        return
    for status in ("accepted", "pending", "rejected"):
        rows = [e for e in entries if e.status == status]
        click.echo(f"{status.capitalize()} keys:")
        for e in rows:
            click.echo(f"  {e.name}" + ("" if e.name == e.fingerprint else f"  ({e.fingerprint})"))
        if not rows:
            click.echo("  (none)")


@key.command()
@config_option
@click.argument("name", required=False)
@click.option("--id", "minion_id", help="the minion id to give a pending key (required for pending keys)")
@click.option("--all", "all_", is_flag=True, help="accept every pending key that has an id")
def accept(config_path: str | None, name: str | None, minion_id: str | None, all_: bool) -> None:
    """Accept a pending or rejected key (by fingerprint or id)."""
    ring = _keyring(config_path)
    if all_:
        names = [e.name for e in ring.entries() if e.status == "rejected"]
        pending = [e for e in ring.entries() if e.status == "pending"]
        if pending:
            click.echo(f"{len(pending)} pending key(s) need an id: hamaster key accept FINGERPRINT --id ID", err=True)
    elif name:
        names = [name]
    else:
        raise click.UsageError("name a key, or give --all")
    for n in names:
        click.echo(f"accepted {ring.accept(n, minion_id)}")


@key.command()
@config_option
@click.argument("name")
def reject(config_path: str | None, name: str) -> None:
    """Reject a key: its minion is refused (and cut off within a second if connected)."""
    _keyring(config_path).reject(name)
    click.echo(f"rejected {name}")


@key.command()
@config_option
@click.argument("name")
def delete(config_path: str | None, name: str) -> None:
    """Forget a key altogether."""
    _keyring(config_path).delete(name)
    click.echo(f"deleted {name}")
