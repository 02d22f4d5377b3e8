"""`hamaster silence add|list|expire`: maintenance windows that keep alerts quiet (they are still stored,
and their deliveries show as suppressed with the silence's id and comment)."""

import re

import click
from rich.console import Console
from rich.table import Table

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import now_ns, to_datetime
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.store import silences

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """30m, 2h, 1h30m, 45s, 1d -> seconds."""
    parts = re.fullmatch(r"(?:\d+[smhd])+", text.strip())
    if not parts:
        raise ConfigError(f"--for: expected a duration like 30m, 2h or 1h30m, got {text!r}")
    return float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", text)))


def _when(ns: int) -> str:
    return f"{to_datetime(ns):%Y-%m-%d %H:%M} UTC"


@click.group()
def silence() -> None:
    """Silence alerts of an instance or a node for a while (maintenance)."""


@silence.command()
@config_option
@click.option("--instance", help="VRRP instance (or group) name; glob allowed")
@click.option("--node", help="minion id")
@click.option("--for", "duration", required=True, help="how long, e.g. 30m, 2h, 1h30m")
@click.option("--comment", default="", help="why (shown with every suppressed alert)")
def add(config_path: str | None, instance: str | None, node: str | None, duration: str, comment: str) -> None:
    """Add a silence starting now."""
    if bool(instance) == bool(node):
        raise ConfigError("give exactly one of --instance I or --node N")
    seconds = parse_duration(duration)
    conn = store.connect(load_master_config(config_path).store)
    try:
        now = now_ns()
        sid = silences.add(conn, instance, node, now, now + int(seconds * 1e9), comment, now)
        click.echo(f"silence #{sid}: {instance or node} until {_when(now + int(seconds * 1e9))}")
    finally:
        conn.close()


@silence.command("list")
@config_option
@click.option("--all", "show_all", is_flag=True, help="expired ones too")
def list_(config_path: str | None, show_all: bool) -> None:
    """Active silences (all with --all)."""
    conn = store.connect(load_master_config(config_path).store, readonly=True)
    try:
        rows = silences.listed(conn, active_at=None if show_all else now_ns())
    finally:
        conn.close()
    table = Table("id", "instance", "node", "from", "until", "comment")
    for sid, instance, node, starts, ends, comment in rows:
        table.add_row(str(sid), instance or "-", node or "-", _when(starts), _when(ends), comment or "")
    Console(soft_wrap=True).print(table)


@silence.command()
@config_option
@click.argument("silence_id", type=int)
def expire(config_path: str | None, silence_id: int) -> None:
    """End a silence now."""
    conn = store.connect(load_master_config(config_path).store)
    try:
        now = now_ns()
        expired = silences.expire(conn, silence_id, now)
    finally:
        conn.close()
    if not expired:
        raise ConfigError(f"no active silence #{silence_id}")
    click.echo(f"silence #{silence_id} expired")
