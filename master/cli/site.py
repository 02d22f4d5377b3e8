"""`hamaster init` (write a ready site) and `hamaster master` (run the daemon)."""

import errno
import logging
import socket
import sys
from pathlib import Path

import click
import zmq.auth

from hamaster.core.config import DEFAULT_PORT, HEARTBEAT_S, SILENT_AFTER_S, MasterConfig, load_master_config
from hamaster.core.errors import ConfigError, ConfigFileError, HamasterError
from hamaster.master.cli import config_option
from hamaster.master.intake.keys import KeyRing, make_certificate, valid_name

MASTER_YAML = """\
# hamaster master configuration (written by `hamaster init`). Paths are relative to this file.
bind: tcp://{bind}
pki_dir: pki
store: store.db
state_root: {state_root}
pillar_root: {pillar_root}
# a powered-off node is `node_silent` within 3 s, before VRRP's takeover (3 x advert_int + skew: 3.6 s at
# advert_int 1): one failover alert, its gap dated by the last heartbeat (so within 0.5 s of the truth)
heartbeat:
  interval: {heartbeat}      # seconds between minion heartbeats
  silent_after: {silent}  # a minion not heard from for this long is `node_silent`
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
  interval: {heartbeat}      # the master's heartbeat.interval
  timeout: 10        # reconnect when the master is not heard from for this long
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
                                                  pillar_root=pillar_root, heartbeat=HEARTBEAT_S,
                                                  silent=SILENT_AFTER_S))
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
        (folder / "minion.yaml").write_text(MINION_YAML.format(id=m, master=master_addr, master_key=master_key,
                                                               heartbeat=HEARTBEAT_S))
        keyring.add(m, public)
        click.echo(f"minion {m}: wrote {folder}/ (accepted)")


@click.command()
@config_option
@click.option("-l", "--log-level", default=None, help="debug, info, warning [default: from master.yaml, info]")
def master(config_path: str | None, log_level: str | None) -> None:
    """Run the master daemon in the foreground (systemd runs it so; see README)."""
    from hamaster.master.intake.daemon import run

    cfg = load_master_config(config_path)
    check_bind_free(cfg)
    logging.basicConfig(level=(log_level or cfg.log_level).upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(cfg)
    except ConfigFileError:
        raise
    except ConfigError as exc:  # refused at start (master key, reactor rules, metrics.listen ...): the site is wrong
        raise ConfigFileError(str(exc)) from None
    except zmq.ZMQError as exc:  # what check_bind_free cannot see (a control socket in a read-only folder ...)
        raise HamasterError(f"{cfg.path}: the master could not start: {exc}") from None


def check_bind_free(cfg: MasterConfig) -> None:
    """Refuse a `bind:` or `control:` port that another process listens on, in one line, before the daemon
    starts anything (ZeroMQ would say it with a traceback, after starting its threads). A host that does not
    resolve is left to ZeroMQ, which also takes interface names."""
    for name, address in (("bind", cfg.bind), ("control", cfg.control)):
        if not address.startswith("tcp://"):
            continue
        host, _, port = address[len("tcp://"):].rpartition(":")
        host = "0.0.0.0" if host == "*" else host.strip("[]")
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
        except (OSError, UnicodeError):
            continue
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ does: TIME_WAIT is no conflict
            try:
                probe.bind(addr)
            except OSError as exc:
                what = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise ConfigFileError(f"{cfg.path}: {name}: {address}: {what}") from None
