"""`hamaster demo`: the seed's drill on a real keepalived + nginx pair, built on this machine in network namespaces.

It builds a lab (two nodes on a bridge), a site whose master alerts a local mail server and a local chat
receiver, configures both nodes with `hamaster apply states/`, then plays the seed's drill step by step and
shows what an operator gets: the alerts, the timeline and a postmortem report. The site is exactly
what `hamaster init` writes, plus the lab's VIP probe and local alert targets. About 40 s; root only.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from hamaster.core.errors import HamasterError
from hamaster.core.timeutil import now_ns, to_datetime

TOOLS = {"keepalived": "keepalived", "nginx": "nginx-light", "ip": "iproute2", "nft": "nftables"}
ALERT_WAIT_S = 40.0  # apprise sends at most one mail per 5.5 s: the drill's 4 mails need ~20 s


def missing_requirements() -> list[str]:
    """What the demo lacks, each with how to get it."""
    missing = [] if os.geteuid() == 0 else ["root (network namespaces): run it with sudo"]
    missing += [f"{tool} (apt-get install {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    return missing


@click.command()
@click.option("--keep", is_flag=True, help="leave the lab, master and minions running afterwards")
@click.option("--json", "as_json", is_flag=True, help="print a machine-readable summary (progress goes to stderr)")
@click.option("--states", "states_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the state tree to apply [default: states/ of this checkout]")
@click.option("--dir", "site_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the site, logs and report go [default: a new /tmp/hamaster-demo-* folder]")
def demo(keep: bool, as_json: bool, states_dir: Path | None, site_dir: Path | None) -> None:
    """Build a real HA pair here, configure it with `hamaster apply`, replay the seed's drill, show the alerts,
    the timeline and a postmortem. Needs root, keepalived, nginx, ip and nft."""
    from rich.console import Console

    missing = missing_requirements()
    if missing:
        raise HamasterError("hamaster demo needs " + "; ".join(missing)
                            + " - or run `sudo scripts/setup` from the source checkout, which installs them all")
    from hamaster.lab.drill import failovers, run_drill
    from hamaster.lab.site import STATES, LabSite

    console = Console(stderr=as_json, highlight=False)
    root = site_dir or Path(tempfile.mkdtemp(prefix="hamaster-demo-"))
    began = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - began:5.1f}s[/]  {text}")

    say("[bold]building the lab[/]: two nodes in network namespaces, a master, a mail server and a chat receiver")
    with LabSite.create(root, states=states_dir or STATES) as site:
        lab = site.lab
        say(f"lab {lab.names.id}: bridge {lab.names.bridge} {lab.bridge_addr}, "
            + ", ".join(f"{n.name} {n.addr} (netns {n.netns})" for n in lab.nodes) + f", VIP {lab.vip}")
        say(f"[bold]hamaster apply {site.states}[/] --pillar {site.pillar} (nginx, keepalived.conf per role, "
            "check script, notify hooks)")
        with console.status("applying ..."):
            applied = site.apply(check=False)
        summary = [line.strip() for line in applied.stdout.splitlines() if line.startswith("Succeeded:")]
        if applied.returncode != 0:
            console.print(applied.stdout[-4000:], markup=False)
            raise HamasterError(f"hamaster apply failed (exit {applied.returncode}); site and logs in {root}")
        for node, line in zip((n.name for n in lab.nodes), summary, strict=False):
            say(f"  {node}: {line}")

        with console.status("waiting for the pair to settle (node1 MASTER, quiet for a few seconds) ..."):
            site.settle()
        say(f"{lab.nodes[0].name} is MASTER and serves the VIP; the drill begins")
        drill_start = now_ns()

        def on_step(step: Any) -> None:
            if step.ended_ns is None:
                say(f"[bold cyan]>[/] {step.doing}")
            else:
                say(f"  [green]ok[/] {step.outcome}")

        with console.status("waiting for the VIP ..."):
            steps = run_drill(site, on_step)
        found = failovers(site, drill_start)
        with console.status("waiting for the alerts (mail goes out at most every 5.5 s) ..."):
            _wait_alerts(site, expected=len(found))
        mail, chat = site.mail.received(), site.chat.received()

        _print_failovers(console, found)
        _print_alerts(console, mail, chat, drill_start)
        console.rule("hamaster timeline --kind vrrp,incident")
        since = to_datetime(drill_start - 10 * 10**9).isoformat()
        console.print(site.cli("timeline", "--since", since, "--kind", "vrrp,incident").stdout, markup=False,
                      crop=False, soft_wrap=True)
        report = None
        if found:
            report = root / f"postmortem-{found[0].incident_id}.html"
            site.cli("postmortem", str(found[0].incident_id), "-o", str(report))
            say(f"postmortem of the failover {found[0].old} -> {found[0].new}: [bold]{report}[/]")
        say(f"site, logs and store kept in {root}")
        if keep:
            site.keep()
            _print_keep(console, site)
        if as_json:
            click.echo(json.dumps(_summary(site, steps, found, mail, chat, report, time.monotonic() - began,
                                           drill_start), indent=2))


def _wait_alerts(site: Any, expected: int) -> None:
    """Until each failover has its chat message and its mail, or ALERT_WAIT_S."""
    deadline = time.monotonic() + ALERT_WAIT_S
    while time.monotonic() < deadline:
        chats = [m for m in site.chat.received() if " moved " in m.title]  # a failover's title
        mails = [m for m in site.mail.received() if " moved " in m.title]
        if len(chats) >= expected and len(mails) >= expected:
            return
        time.sleep(0.2)


def _print_failovers(console: Any, found: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="failovers: the correlator's account vs the probe's ground truth", title_justify="left")
    for col in ("incident", "moved", "no MASTER (correlator)", "VIP unanswered (probe)"):
        table.add_column(col)
    for f in found:
        table.add_row(f"#{f.incident_id}", f"{f.old} -> {f.new}", _ms(f.incident_gap_ns), _ms(f.probe_gap_ns))
    console.print(table)


def _print_alerts(console: Any, mail: list[Any], chat: list[Any], since_ns: int) -> None:
    from rich.table import Table
    from rich.text import Text  # titles hold [warning] and such: text, not markup

    table = Table(title="alerts received (local mail server and chat receiver)", title_justify="left")
    for col in ("via", "after the drill began", "subject / title"):
        table.add_column(col)
    for via, got in (("mail", mail), ("chat", chat)):
        for m in got:
            table.add_row(via, f"+{(m.at_ns - since_ns) / 1e9:.1f} s", Text(m.title))
    console.print(table)


def _print_keep(console: Any, site: Any) -> None:
    lab, cfg = site.lab, site.config
    n1 = lab.nodes[0]
    console.rule("the lab stays up")
    console.print(
        f"  curl http://{lab.vip}/                       the VIP, from this host\n"
        f"  ip netns exec {n1.netns} ip -br addr     inside {n1.name}\n"
        f"  hamaster timeline -c {cfg}\n"
        f"  hamaster apply {site.states} --pillar {site.pillar} -c {cfg}\n"
        f"  remove it: kill {site.master_pid}  (the master), then  hamaster lab-clean", markup=False, crop=False,
        soft_wrap=True)


def _ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.0f} ms"


def _summary(site: Any, steps: list[Any], found: list[Any], mail: list[Any], chat: list[Any], report: Path | None,
             took_s: float, drill_start: int) -> dict[str, Any]:
    def iso(ns: int | None) -> str | None:
        return None if ns is None else to_datetime(ns).isoformat()

    lab = site.lab
    return {
        "lab": {"id": lab.names.id, "vip": lab.vip, "nodes": {n.name: {"addr": n.addr, "netns": n.netns}
                                                               for n in lab.nodes}},
        "site": str(site.root),
        "steps": [{"name": s.name, "doing": s.doing, "outcome": s.outcome, "started": iso(s.started_ns),
                   "ended": iso(s.ended_ns), "started_ns": s.started_ns, "ended_ns": s.ended_ns}
                  for s in steps],
        "failovers": [{"incident": f.incident_id, "old": f.old, "new": f.new, "at": iso(f.started_ns),
                       "correlator_gap_ms": None if f.incident_gap_ns is None else f.incident_gap_ns / 1e6,
                       "probe_gap_ms": None if f.probe_gap_ns is None else f.probe_gap_ns / 1e6} for f in found],
        "alerts": {via: [{"at": iso(m.at_ns), "title": m.title} for m in got]
                   for via, got in (("mail", mail), ("chat", chat))},
        "incidents": [{"id": i["id"], "kind": i["kind"], "severity": i["severity"], "at": iso(i["started_ns"]),
                       "summary": i["summary"], "planned": i["planned"]}
                      for i in site.incidents() if i["started_ns"] >= drill_start],
        "postmortem": str(report) if report else None,
        "took_s": round(took_s, 1),
    }

