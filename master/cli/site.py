"""`hamaster init` (write a ready site) and `hamaster master` (run the daemon)."""

import logging
import sys
from pathlib import Path

import click
import zmq.auth

from hamaster.core.config import DEFAULT_PORT, load_master_config
from hamaster.core.errors import ConfigError
from hamaster.master.cli import config_option
from hamaster.master.intake.keys import KeyRing, make_certificate, valid_name

MASTER_YAML = """\
# hamaster master configuration (written by `hamaster init`). Paths are relative to this file.
bind: tcp://{bind}
pki_dir: pki
store: store.db
state_root: {state_root}
pillar_root: {pillar_root}
heartbeat:
  interval: 2        # seconds between minion heartbeats
  silent_after: 10   # a minion not heard from for this long is `node_silent`
# notify:            # alert targets and routes: see README "Alerts"
"""

MINION_YAML = """\
# hamaster minion configuration for {id} (written by `hamaster init`); copy this folder to the node.
id: {id}
master: tcp://{master}
master_key: "{master_key}"
key: minion.key_secret
spool_dir: spool
fifo: keepalived.fifo
heartbeat:
  interval: 2
  timeout: 10
"""


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--master-addr", required=True, metavar="HOST:PORT",
              help=f"address the minions connect to, e.g. 10.0.0.1:{DEFAULT_PORT}")
@click.option("--bind", metavar="HOST:PORT", help="address the master binds [default: --master-addr]")
@click.option("--minion", "minions", multiple=True, metavar="ID", help="a minion to create and accept (repeat)")
@click.option("--state-root", default="states", show_default=True, help="the state tree for `hamaster apply`")
@click.option("--pillar-root", default="states/pillar", show_default=True, help="the pillar tree")
def init(directory: str, master_addr: str, bind: str | None, minions: tuple[str, ...], state_root: str,
         pillar_root: str) -> None:
    """Write a ready site: master.yaml, the master's keys, and per minion a folder with its minion.yaml and
    keys, already accepted. Run again with more --minion to add minions to an existing site."""
    root = Path(directory)
    host, sep, port = master_addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--master-addr must be HOST:PORT, got {master_addr!r}")
    for m in minions:
        if not valid_name(m):
            raise ConfigError(f"--minion {m!r}: a minion id is a plain name (no '/', not starting with '.')")
    root.mkdir(parents=True, exist_ok=True)
    master_yaml = root / "master.yaml"
    if not master_yaml.exists():
        master_yaml.touch(mode=0o600)  # it will hold notify tokens and store passwords: the owner's only
        master_yaml.write_text(MASTER_YAML.format(bind=bind or master_addr, state_root=state_root,
                                                  pillar_root=pillar_root))
        make_certificate(root / "pki", "master")
        click.echo(f"wrote {master_yaml} and the master's keys in {root / 'pki'}")
    cfg = load_master_config(master_yaml)
    master_key = zmq.auth.load_certificate(cfg.pki_dir / "master.key")[0].decode()
    keyring = KeyRing(cfg.pki_dir)
    for m in minions:
        folder = root / "minions" / m
        if (folder / "minion.yaml").exists():
            click.echo(f"minion {m}: exists, left as it is")
            continue
        public, _ = make_certificate(folder, "minion")
        (folder / "minion.yaml").write_text(MINION_YAML.format(id=m, master=master_addr, master_key=master_key))
        keyring.add(m, public)
        click.echo(f"minion {m}: wrote {folder}/ (accepted)")


@click.command()
@config_option
@click.option("-l", "--log-level", default=None, help="debug, info, warning [default: from master.yaml, info]")
def master(config_path: str | None, log_level: str | None) -> None:
    """Run the master daemon in the foreground (systemd runs it so; see README)."""
    from hamaster.master.intake.daemon import run

    cfg = load_master_config(config_path)
    logging.basicConfig(level=(log_level or cfg.log_level).upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(cfg)
