"""`haminion`: the node side. `haminion hook` is dispatched before this module is imported (see entry.py)."""

import logging
import sys

import click

from hamaster.core import __version__
from hamaster.core.config import load_minion_config
from hamaster.core.errors import ConfigFileError, HamasterError

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="minion.yaml of this node [default: $HAMINION_CONFIG or /etc/hamaster/minion.yaml]",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="haminion")
def cli() -> None:
    """haminion: the hamaster minion of one keepalived + nginx node."""


@cli.command()
@config_option
@click.option("-l", "--log-level", default=None, help="debug, info, warning [default: from minion.yaml, info]")
def run(config_path: str | None, log_level: str | None) -> None:
    """Run the daemon: spool events, stream them to the master(s), run jobs."""
    from hamaster.minion.daemon import run as run_daemon

    cfg = load_minion_config(config_path)
    logging.basicConfig(level=(log_level or cfg.log_level).upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_daemon(cfg)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(args: tuple[str, ...]) -> None:
    """The keepalived notify hook: -c minion.yaml TYPE NAME STATE [PRIORITY].

    \b
    Wire it in keepalived.conf, in each vrrp_instance:
        notify "/usr/local/bin/haminion-hook -c /etc/hamaster/minion.yaml"
    or per state:
        notify_master "/usr/local/bin/haminion-hook -c /etc/hamaster/minion.yaml --state MASTER --instance VI_1"
    (haminion-hook is this command as a plain script, without the wrapper's imports: use it in keepalived.conf)
    It always exits 0, and the event is on disk before it exits, even when the daemon is down.
    """
    from hamaster.minion.hook import main as hook_main

    sys.exit(hook_main(list(args)))


@cli.command()
@config_option
def key(config_path: str | None) -> None:
    """Show this minion's public key and fingerprint (what `hamaster key accept` names)."""
    import zmq.auth

    from hamaster.core.protocol import fingerprint

    cfg = load_minion_config(config_path)
    try:
        public, _ = zmq.auth.load_certificate(cfg.secret_key_file)
    except (OSError, ValueError) as exc:
        raise HamasterError(f"{cfg.secret_key_file}: {exc}") from None
    click.echo(f"id:          {cfg.id}\npublic key:  {public.decode()}\nfingerprint: {fingerprint(public)}")


@cli.command()
@config_option
@click.option("--keepalived-conf", type=click.Path(dir_okay=False), default="/etc/keepalived/keepalived.conf",
              show_default=True, help="the keepalived.conf to check")
def doctor(config_path: str | None, keepalived_conf: str) -> None:
    """Check this node's wiring: keys, spool, daemon, master, keepalived hooks and FIFO. Says what to fix."""
    from pathlib import Path

    from hamaster.minion.doctor import run_checks

    failed = 0
    for ok, what, fix in run_checks(load_minion_config(config_path), Path(keepalived_conf)):
        click.echo(f"{'ok ' if ok else 'FIX'}  {what}" + ("" if ok else f"\n     -> {fix}"))
        failed += not ok
    if failed:
        raise HamasterError(f"{failed} problem(s) found")


def one_line(exc: BaseException) -> str:
    """An error as one line of plain text: a newline or a terminal escape in it (from a file's text) is shown
    escaped, never acted on."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(exc))


def main() -> int:
    try:
        cli.main(prog_name="haminion", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except ConfigFileError as exc:  # minion.yaml is wrong: for click, a usage error
        click.echo(f"haminion: error: {one_line(exc)}", err=True)
        return 2
    except HamasterError as exc:
        click.echo(f"haminion: error: {one_line(exc)}", err=True)
        return 1
    return 0
