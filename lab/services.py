"""keepalived and nginx inside a lab node: start, stop, reload, status.

Each node has a run dir (shared filesystem, one per node) for pid files, logs, nginx temp files and keepalived's
TMPDIR (where its state dumps go: /tmp is shared by all nodes, the run dir is not). The daemons run in the
foreground in their own session with output in <run>/<daemon>.log; their pid files say which process is theirs.

The same thing as a shell-friendly command, for the start/stop/reload/status commands of a `service.running`
state (exit status: 0 ok; `status` gives 0 running, 3 stopped, as LSB init scripts do; 1 with one line on error):

    python -m hamaster.lab.services keepalived start  [--run-dir DIR] [--conf FILE] [--netns NS]
    python -m hamaster.lab.services nginx      reload [--run-dir DIR]

--run-dir defaults to $HAMASTER_RUN_DIR (the lab sets it for every process it starts in a node); --netns is
only needed from outside the node (inside it, as the minion is, the command already runs in the right place).
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from hamaster.lab.netns import LabError, exec_argv, process_start_time


@dataclass(frozen=True, slots=True)
class Daemon:
    name: str
    default_conf: str
    stop_signal: int = signal.SIGTERM
    reload_signal: int = signal.SIGHUP

    def pid_file(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.pid"

    def log_file(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.log"

    def check_argv(self, conf: str, run_dir: Path) -> list[str]:
        """The daemon's own config test: `start` refuses a config that fails it."""
        if self.name == "keepalived":
            return ["keepalived", "-t", "-f", conf]
        return ["nginx", "-t", "-q", "-c", conf, "-e", str(run_dir / "nginx-error.log"),
                "-g", f"pid {self.pid_file(run_dir)};"]

    def argv(self, conf: str, run_dir: Path) -> list[str]:
        if self.name == "keepalived":
            return ["keepalived", "-f", conf, "-p", str(self.pid_file(run_dir)),
                    "-r", str(run_dir / "keepalived_vrrp.pid"), "-c", str(run_dir / "keepalived_checkers.pid"),
                    "-n", "--log-console"]
        # pid and the start-up error log from the command line, so the node's nginx.conf stays a plain config
        return ["nginx", "-c", conf, "-e", str(run_dir / "nginx-error.log"),
                "-g", f"daemon off; pid {self.pid_file(run_dir)};"]


KEEPALIVED = Daemon("keepalived", "/etc/keepalived/keepalived.conf")
NGINX = Daemon("nginx", "/etc/nginx/nginx.conf", stop_signal=signal.SIGQUIT)  # SIGQUIT: finish requests first
DAEMONS = {d.name: d for d in (KEEPALIVED, NGINX)}


def pid_of(daemon: Daemon, run_dir: Path) -> int | None:
    """The daemon's pid if its pid file names a live process of that name (a reused pid is not ours)."""
    try:
        pid = int(daemon.pid_file(run_dir).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == daemon.name and process_start_time(pid) is not None else None


def _only_vip_less(daemon: Daemon, check: subprocess.CompletedProcess[str]) -> bool:
    """keepalived's test exits 5 for an instance without VIPs (the cloud case); it runs it, and so do we
    (states/keepalived.sls's check_cmd accepts that one complaint too)."""
    lines = {line.strip() for line in (check.stderr + check.stdout).splitlines() if line.strip()}
    return (daemon.name == "keepalived" and check.returncode == 5
            and lines == {line for line in lines if line.endswith("No VIP specified; at least one is sensible")})


def start(daemon: Daemon, run_dir: Path, *, conf: str | None = None, netns: str | None = None,
          timeout: float = 10.0) -> subprocess.Popen[bytes] | None:
    """Start the daemon unless it runs; returns its process (None if it already ran) once its pid file is written."""
    if pid_of(daemon, run_dir) is not None:
        return None
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    conf = conf or daemon.default_conf
    check = subprocess.run(_in(netns, daemon.check_argv(conf, run_dir)), capture_output=True, text=True, timeout=30)
    if check.returncode != 0 and not _only_vip_less(daemon, check):
        lines = (check.stderr + check.stdout).strip().splitlines() or [f"exit {check.returncode}"]
        # the line that names file and line: keepalived's "(FILE: Line N) ...", nginx's "[emerg] ... in FILE:N"
        worst = next((line for line in lines if "Line " in line or "[emerg]" in line), lines[-1])
        raise LabError(f"{conf} fails {daemon.name}'s config test: {worst.strip()}")
    daemon.pid_file(run_dir).unlink(missing_ok=True)
    argv = _in(netns, daemon.argv(conf, run_dir))
    env = {**os.environ, "TMPDIR": str(run_dir / "tmp"), "HAMASTER_RUN_DIR": str(run_dir)}
    with open(daemon.log_file(run_dir), "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while pid_of(daemon, run_dir) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise LabError(f"{daemon.name} did not start (exit {proc.returncode}): {_tail(daemon.log_file(run_dir))}")
        time.sleep(0.02)
    return proc


def stop(daemon: Daemon, run_dir: Path, *, timeout: float = 10.0) -> bool:
    """Stop the daemon and wait until it is gone (SIGKILL after `timeout` s); False if it was not running."""
    pid = pid_of(daemon, run_dir)
    if pid is None:
        return False
    os.kill(pid, daemon.stop_signal)
    deadline = time.monotonic() + timeout
    while process_start_time(pid) is not None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.02)
    return True


def reload(daemon: Daemon, run_dir: Path) -> None:
    pid = pid_of(daemon, run_dir)
    if pid is None:
        raise LabError(f"{daemon.name} is not running (no live pid in {daemon.pid_file(run_dir)})")
    os.kill(pid, daemon.reload_signal)


def _in(netns: str | None, argv: list[str]) -> list[str]:
    return exec_argv(netns, argv) if netns else argv


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "no output"
    except OSError:
        return "no log"


# -- the page and config of a lab node's nginx ---------------------------------------------------------
def nginx_conf(run_dir: Path, port: int = 80) -> str:
    """A self-contained nginx.conf whose writable paths are all in the node's run dir (two nodes never collide).

    It serves /etc/nginx/html of the node: inside the node's namespace that is /etc/netns/<ns>/nginx/html.
    """
    r = run_dir
    return f"""\
worker_processes 1;
error_log {r}/nginx-error.log;
lock_file {r}/nginx.lock;
events {{ worker_connections 256; }}
http {{
    access_log {r}/nginx-access.log;
    client_body_temp_path {r}/nginx-body;
    proxy_temp_path {r}/nginx-proxy;
    fastcgi_temp_path {r}/nginx-fastcgi;
    uwsgi_temp_path {r}/nginx-uwsgi;
    scgi_temp_path {r}/nginx-scgi;
    default_type text/plain;
    server {{
        listen {port} default_server;
        root /etc/nginx/html;
        index index.html;
    }}
}}
"""


def keepalived_conf(*, vip: str, priority: int, state: str = "BACKUP", instance: str = "VI_1",
                    router_id: int = 51, interface: str = "eth0", advert_int: int = 1, auth_pass: str = "lab-pass",
                    notify: str | None = None) -> str:
    """The seed's vrrp_instance for one lab node (hand-made for tests and benchmarks; the demo uses the states)."""
    notify_line = f"\n    notify {notify}" if notify else ""
    return f"""\
global_defs {{
    script_user root
    enable_script_security
}}
vrrp_instance {instance} {{
    state {state}
    interface {interface}
    virtual_router_id {router_id}
    priority {priority}
    advert_int {advert_int}
    authentication {{
        auth_type PASS
        auth_pass {auth_pass}
    }}
    virtual_ipaddress {{
        {vip}
    }}{notify_line}
}}
"""


def node_page(node: str, addr: str) -> str:
    """The page a node serves, naming the node first (the probe reads that), as the seed's drill does."""
    return f"{node} {addr}\n"


# -- command line --------------------------------------------------------------------------------------
@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("daemon", type=click.Choice(sorted(DAEMONS)))
@click.argument("action", type=click.Choice(["start", "stop", "reload", "status"]))
@click.option("--run-dir", envvar="HAMASTER_RUN_DIR", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="the node's run dir [default: $HAMASTER_RUN_DIR]")
@click.option("--conf", default=None, help="config file [default: the daemon's under /etc]")
@click.option("--netns", default=None, help="run inside this network namespace (when called from outside it)")
def main(daemon: str, action: str, run_dir: Path, conf: str | None, netns: str | None) -> None:
    """Start, stop, reload or ask about keepalived or nginx of one lab node."""
    d = DAEMONS[daemon]
    try:
        if action == "start":
            started = start(d, run_dir, conf=conf, netns=netns)
            click.echo(f"{daemon} {'started' if started else 'already running'} (pid {pid_of(d, run_dir)})")
        elif action == "stop":
            click.echo(f"{daemon} {'stopped' if stop(d, run_dir) else 'was not running'}")
        elif action == "reload":
            reload(d, run_dir)
            click.echo(f"{daemon} reloaded")
        else:
            pid = pid_of(d, run_dir)
            click.echo(f"{daemon} is running (pid {pid})" if pid else f"{daemon} is stopped")
            sys.exit(0 if pid else 3)
    except LabError as exc:
        click.echo(f"{daemon} {action}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
