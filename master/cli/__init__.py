"""`hamaster`: the operator's command line.

Subcommands live in their own modules and are imported only when called (start-up time matters:
`hamaster apply` with nothing to change must finish in well under half a second). To add one, add a line
to COMMANDS: name -> ("module:click_object", first sentence of its help).
"""

import sys
from typing import Any

import click

from hamaster.core import __version__
from hamaster.core.errors import ConfigFileError, HamasterError

# name -> (where it lives, the first sentence of its help): `hamaster --help` imports no command
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("hamaster.master.cli.site:init", "Write a ready site: master.yaml, the master's keys, and per minion a "
             "folder with its minion.yaml and keys, already accepted."),
    "master": ("hamaster.master.cli.site:master",
               "Run the master daemon in the foreground (systemd runs it so; see README)."),
    "key": ("hamaster.master.cli.keys:key", "Manage minion keys: only accepted keys can connect to the master."),
    "events": ("hamaster.master.cli.events:events",
               "Print stored events (node time order), then with --follow new ones as they arrive."),
    "status": ("hamaster.master.cli.events:status",
               "Per minion: online or last seen, each VRRP instance's state and priority, VIPs held."),
    "apply": ("hamaster.master.cli.apply:apply",
              "Configure the targeted minions from the state tree, Salt-style (backup first for an HA pair)."),
    "timeline": ("hamaster.master.cli.timeline:timeline",
                 "What happened, when, where: transitions, incidents, alerts and applies, in time order."),
    "postmortem": ("hamaster.master.cli.timeline:postmortem", "A report on one incident (or a window): summary, "
                   "impact, timeline, alerts, applies and a picture."),
    "notify": ("hamaster.master.cli.notify:notify",
               "Alert targets (apprise URLs) and routes of the `notify:` section of master.yaml."),
    "silence": ("hamaster.master.cli.silence:silence",
                "Silence alerts of an instance or a node for a while (maintenance)."),
    "check": ("hamaster.master.cli.check:check", "Readiness of every pair: findings with what to do; exit 0 "
              "ready, 1 warnings, 2 errors, 3 check itself called wrongly."),
    "drain": ("hamaster.master.cli.drain:drain", "Move every VIP away from NODE without stopping anything "
              "(keepalived's track_file): planned, reversible."),
    "undrain": ("hamaster.master.cli.drain:undrain", "Put NODE back in service: it takes back what it held "
                "when drained (keepalived's preemption)."),
    "drill": ("hamaster.master.cli.drill:drill", "Prove the standby takes over: drain the holder, measure the "
              "outage (probe) and VRRP gap, undrain; stored in the timeline."),
    "web": ("hamaster.master.cli.web:web",
            "The dashboard: who holds which VIP now, live; the timeline and postmortems (read-only)."),
    "lab-clean": ("hamaster.lab.cmd_clean:lab_clean", "Remove leftovers of labs whose process is gone."),
    "demo": ("hamaster.master.cli.demo:demo", "Build a real HA pair here, configure it with `hamaster apply`, "
             "replay the seed's drill, show the alerts, the timeline and a postmortem."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target[0].split(":")
        return getattr(__import__(module, fromlist=[attr]), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists them, from the table: importing every command for its help took most of --help's time."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, _shortened(help_text, limit)) for name, (_, help_text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hamaster")
def cli() -> None:
    """hamaster: event-driven orchestration of keepalived + nginx HA pairs.

    Commands that need the site take -c master.yaml (default /etc/hamaster/master.yaml, or $HAMASTER_CONFIG).
    """


config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="master.yaml of the site [default: $HAMASTER_CONFIG or /etc/hamaster/master.yaml]",
)


def _shortened(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word, as click shortens a command's help."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def one_line(exc: BaseException) -> str:
    """An error as one line of plain text: a newline or a terminal escape in it (from a file's text) is shown
    escaped, never acted on."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(exc))


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="hamaster", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigFileError as exc:  # master.yaml is wrong: for click, a usage error
        click.echo(f"hamaster: error: {one_line(exc)}", err=True)
        sys.exit(2)
    except HamasterError as exc:
        click.echo(f"hamaster: error: {one_line(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
