"""`hamaster web`: the read-only dashboard over the store, in a process of its own (master/web)."""

import errno
import socket
import sys

import click

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError, ConfigFileError
from hamaster.master.cli import config_option


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigFileError(f"--bind {bind!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def _check_free(host: str, port: int, bind: str) -> None:
    """One line, before uvicorn starts (which would log a traceback-like error and exit 1)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError):
        raise ConfigError(f"--bind {bind}: {host} is not an address of this host") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as exc:
            what = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(f"--bind {bind}: {what}") from None


@click.command()
@config_option
@click.option("--bind", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="where to listen; anything but loopback needs --token-file or --users")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="a file holding the access token (Authorization: Bearer TOKEN, or /?token=TOKEN once)")
@click.option("--users", "users_file", type=click.Path(dir_okay=False), default=None,
              help="a file of name:HASH lines for HTTP basic auth (HASH from --hash-password)")
@click.option("--tz", default=None, help="show times in UTC, +08:00 or Asia/Shanghai [default: local]")
@click.option("--hash-password", is_flag=True, help="read a password (prompted) and print its hash for --users")
def web(config_path: str | None, bind: str, token_file: str | None, users_file: str | None, tz: str | None,
        hash_password: bool) -> None:
    """The dashboard: who holds which VIP now, live; the timeline and postmortems (read-only)."""
    from hamaster.master.web.auth import Guard, is_loopback
    from hamaster.master.web.auth import hash_password as make_hash

    if hash_password:
        if sys.stdin.isatty():
            password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
        else:  # piped: the first line (a script making a --users file)
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ConfigError("--hash-password: the password is empty")
        click.echo(make_hash(password))
        return
    from hamaster.master.timeline import formats as tf

    cfg = load_master_config(config_path)
    zone = tf.parse_tz(tz)
    host, port = _split_bind(bind)
    try:
        guard = Guard.from_files(token_file, users_file)
    except ConfigError as exc:  # a token or users file that cannot be used: a configuration error (exit 2)
        raise ConfigFileError(str(exc)) from None
    if guard.open and not is_loopback(host):
        raise ConfigFileError(f"--bind {bind}: not a loopback address; give --token-file or --users"
                          " so that only those you allow can read the site")
    _check_free(host, port, bind)
    import uvicorn

    from hamaster.master.cli.timeline import _target_names
    from hamaster.master.web.app import create_app

    app = create_app(cfg, guard, zone, _target_names(cfg))
    auth = "open (loopback only)" if guard.open else "token" if guard.token else "basic auth"
    click.echo(f"hamaster web: http://{bind}/ ({auth})", err=True)
    # no access log: a first visit's /?token=... must not land in a log
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=2)
