"""`hamaster timeline` and `hamaster postmortem`: read the store (read-only) and tell what happened."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click

from hamaster.core.config import MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, HamasterError
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.cli import config_option
from hamaster.master.timeline import rows as tl

_FORMATS = ("table", "json", "markdown", "html")


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        f = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed below, also on error)
    except OSError as exc:
        raise ConfigError(f"-o {path}: {exc.strerror}") from None
    with f:
        yield f


def _window(conn: store.Connection, since: str | None, until: str | None, incident: int | None,
            context: str) -> tl.Query:
    now = now_ns()
    if incident is not None:
        context_ns = now - tl.parse_when(context, now, option="--context")
        return tl.incident_query(conn, incident, context_ns)
    since_ns = tl.parse_when(since, now, option="--since") if since else None
    until_ns = tl.parse_when(until, now, option="--until") if until else None
    if since_ns is not None and until_ns is not None and until_ns <= since_ns:
        raise ConfigError(f"--until {until}: must be after --since {since}")
    return tl.Query(since_ns=since_ns, until_ns=until_ns)


@click.command()
@config_option
@click.option("--since", default="24h", show_default=True, help="2h, 30m, 1d, or an ISO time with its offset")
@click.option("--until", default=None, help="same forms as --since [default: now]")
@click.option("--node", "nodes", multiple=True, help="only this minion (repeatable)")
@click.option("--instance", default=None, help="only this VRRP instance, e.g. VI_1")
@click.option("--incident", type=int, default=None, help="the window of this incident id, on its nodes")
@click.option("--context", default="5m", show_default=True, help="time shown around --incident")
@click.option("--kind", default=None, help="comma list of vrrp,beacon,minion,job,incident,alert,apply")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
@click.option("--tz", default=None, help="show times in UTC, +08:00 or Asia/Shanghai [default: local]")
@click.option("-o", "--output", default=None, help="write to FILE instead of stdout")
def timeline(config_path: str | None, since: str, until: str | None, nodes: tuple[str, ...], instance: str | None,
             incident: int | None, context: str, kind: str | None, fmt: str, tz: str | None,
             output: str | None) -> None:
    """What happened, when, where: transitions, incidents, alerts and applies, in time order."""
    from dataclasses import replace

    from hamaster.master.timeline import formats as tf

    cfg = load_master_config(config_path)
    zone = tf.parse_tz(tz)
    kinds = tl.parse_kinds(kind)
    conn = store.connect(cfg.store, readonly=True)
    try:
        q = _window(conn, since, until, incident, context)
        q = replace(q, nodes=nodes or q.nodes, instance=instance, kinds=kinds)
        title = f"Incident {incident}" if incident is not None else "Timeline"
        with _output(output) as out:
            color = output is None and out.isatty()
            tf.write(tl.timeline(conn, q), out, fmt, zone, title=title, color=color)
    finally:
        conn.close()


@click.command()
@config_option
@click.argument("incident_id", type=int, required=False)
@click.option("--since", default=None, help="a window instead of an incident: 2h, 30m or an ISO time")
@click.option("--until", default=None, help="end of that window [default: now]")
@click.option("--context", default=None,
              help="widen the picture by this much on each side, e.g. 5m [default: zoomed on the incident]")
@click.option("--format", "fmt", type=click.Choice(("markdown", "html")), default=None,
              help="[default: html when -o ends in .html, else markdown]")
@click.option("--tz", default=None, help="show times in UTC, +08:00 or Asia/Shanghai [default: local]")
@click.option("-o", "--output", default=None, help="write to FILE instead of stdout")
@click.option("--picture", default=None, metavar="FILE.svg",
              help="write the picture alone to FILE.svg (to attach to a chat message or a ticket)")
def postmortem(config_path: str | None, incident_id: int | None, since: str | None, until: str | None,
               context: str | None, fmt: str | None, tz: str | None, output: str | None,
               picture: str | None) -> None:
    """A report on one incident (or a window): summary, impact, timeline, alerts, applies and a picture."""
    from hamaster.master.timeline import formats as tf
    from hamaster.master.timeline import postmortem as pm

    if incident_id is None and since is None:
        raise click.UsageError("give an INCIDENT_ID or a window with --since")
    if picture is not None and Path(picture).suffix.lower() != ".svg":
        raise ConfigError(f"--picture {picture}: the picture is written as SVG (give a name ending in .svg)")
    cfg = load_master_config(config_path)
    zone = tf.parse_tz(tz)
    fmt = fmt or ("html" if output and Path(output).suffix.lower() in (".html", ".htm") else "markdown")
    names = _target_names(cfg)
    conn = store.connect(cfg.store, readonly=True)
    try:
        if incident_id is not None and since is None:
            report = pm.incident_report(conn, incident_id, context)
        else:
            report = pm.build_report(conn, _window(conn, since, until, None, context or "5m"), incident_id)
        if picture is not None:
            pm.write_picture(report, Path(picture), zone, names)
            if output is None:
                return  # the picture alone
        with _output(output) as out:
            svg = Path(output).with_suffix(".svg") if output and fmt == "markdown" else None
            pm.write_report(report, out, fmt, zone, svg_path=svg, names=names)
    finally:
        conn.close()


def _target_names(cfg: MasterConfig) -> dict[str, str]:
    """Masked apprise URL -> the target's name in master.yaml: reports name targets, never show URLs."""
    from hamaster.notify import config as notify_config

    try:
        ncfg = notify_config.load(cfg.notify, str(cfg.path), cfg.path.parent)
    except HamasterError:  # a notify section the master would refuse: reports fall back to service and host
        return {}
    return {t.masked: t.name for t in ncfg.targets}
