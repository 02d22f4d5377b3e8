"""`hamaster`: the operator's command line.

Subcommands live in their own modules and are imported only when called (start-up time matters:
`hamaster apply` with nothing to change must finish in well under half a second). To add one, add a line
to COMMANDS: name -> "module:click_object".
"""

import sys
from typing import Any

import click

from hamaster.core import __version__
from hamaster.core.errors import ConfigFileError, HamasterError

COMMANDS = {
    "init": "hamaster.master.cli.site:init",
    "master": "hamaster.master.cli.site:master",
    "key": "hamaster.master.cli.keys:key",
    "events": "hamaster.master.cli.events:events",
    "status": "hamaster.master.cli.events:status",
    "apply": "hamaster.master.cli.apply:apply",
    "timeline": "hamaster.master.cli.timeline:timeline",
    "postmortem": "hamaster.master.cli.timeline:postmortem",
    "notify": "hamaster.master.cli.notify:notify",
    "silence": "hamaster.master.cli.silence:silence",
    "lab-clean": "hamaster.lab.cmd_clean:lab_clean",
    "demo": "hamaster.master.cli.demo:demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(__import__(module, fromlist=[attr]), attr)


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
