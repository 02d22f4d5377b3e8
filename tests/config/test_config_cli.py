"""Config through the real CLI: what `hamaster init` writes loads; a broken master.yaml is one line and exit 2
for every command that reads it; a port in use; an apprise config file with tags; `hamaster apply` right after
`hamaster init`. Real processes, real sockets on 127.0.0.1."""

import re
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from receivers import HttpReceiver
from sitelib import HAMASTER, HAMINION, Site, wait_for

from hamaster.core.config import (
    HEARTBEAT_S,
    SILENT_AFTER_S,
    load_master_config,
    load_minion_config,
    resolve_spool_dir,
)

STATES = Path(__file__).parents[2] / "states"


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_exit_2(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def test_what_init_writes_loads_as_written(site: Site) -> None:
    master = load_master_config(site.config)
    assert master.bind == f"tcp://127.0.0.1:{site.port}" and master.heartbeat_interval == HEARTBEAT_S
    assert master.silent_after == SILENT_AFTER_S and master.pki_dir == site.root / "pki"
    assert master.pillar_root == site.root / "states" / "pillar"
    for minion in ("node1", "node2"):
        cfg = load_minion_config(site.minion_config(minion))
        assert cfg.id == minion and cfg.masters == [f"tcp://127.0.0.1:{site.port}"]
        assert cfg.spool_dir == resolve_spool_dir(site.minion_config(minion), "spool")
        assert cfg.fifo == site.fifo_path(minion)
    keys = site.cli("key", "list")
    assert "node1" in keys.stdout and keys.stderr == ""


def test_an_empty_section_means_its_defaults(site: Site) -> None:
    text = Path(site.config).read_text()
    section = re.search(r"^heartbeat:\n(  .*\n)+", text, re.M)
    assert section is not None
    Path(site.config).write_text(text.replace(section.group(0), "heartbeat:\nnotify:\n"))
    cfg = load_master_config(site.config)
    assert (cfg.heartbeat_interval, cfg.silent_after, cfg.notify.targets) == (HEARTBEAT_S, SILENT_AFTER_S, [])


COMMANDS = [["master"], ["status"], ["events"], ["timeline"], ["postmortem", "--since", "1h"],
            ["apply", str(STATES), "--test"], ["notify", "list"], ["notify", "test"], ["key", "list"],
            ["key", "accept", "0" * 16, "--id", "n9"], ["silence", "list"],
            ["silence", "add", "--instance", "VI_1", "--for", "1h"]]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_command_that_reads_master_yaml_says_one_line_and_exits_2(site: Site, command: list[str]) -> None:
    line = len(Path(site.config).read_text().splitlines()) + 1
    with open(site.config, "a") as f:
        f.write("notfiy:\n  targets: [{url: 'json://127.0.0.1:9/hook'}]\n")
    one_line_exit_2(run(HAMASTER, *command, "-c", site.config),
                    f"{site.config}:{line}: notfiy: unknown field, did you mean notify?")


@pytest.mark.parametrize("command", [["run"], ["doctor"], ["key"]])
def test_every_haminion_command_says_one_line_and_exits_2(site: Site, command: list[str]) -> None:
    config = site.minion_config("node1")
    with open(config, "a") as f:
        f.write("spool_dri: /var/spool/hamaster\n")
    one_line_exit_2(run(HAMINION, *command, "-c", config), "spool_dri: unknown field, did you mean spool_dir?")


@pytest.mark.parametrize("field", ["bind", "control"])
def test_a_port_in_use_is_one_line_and_nothing_starts(site: Site, field: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = Path(site.config).read_text()
        if field == "bind":
            text = text.replace(f":{site.port}", f":{port}")
        else:
            text += f"control: tcp://127.0.0.1:{port}\n"
        Path(site.config).write_text(text)
        one_line_exit_2(run(HAMASTER, "master", "-c", site.config, timeout=30),
                        f"{field}: tcp://127.0.0.1:{port}: in use by another process")
    assert not (site.root / "control.sock").exists()


def test_an_apprise_config_file_with_tags_is_listed_and_reached_by_its_tag(site: Site) -> None:
    receiver = HttpReceiver().up()
    try:
        (site.root / "apprise.yml").write_text(f"urls:\n  - {receiver.url}:\n      tag: chat\n")
        with open(site.config, "a") as f:
            f.write("notify:\n  targets: [{config: apprise.yml}]\n  routes: [{name: oncall, tags: [chat]}]\n")
        listed = site.cli("notify", "list")
        assert "apprise.yml#0" in listed.stdout and "chat" in listed.stdout and "oncall" in listed.stdout
        sent = site.cli("notify", "test", "--tag", "chat")
        assert sent.stdout.startswith("sent")
        wait_for(lambda: receiver.titles() == ["hamaster test message"], 10, "the test message")
    finally:
        receiver.down()


def make_tree(root: Path, pillar: bool) -> Path:
    """A state tree whose one file shows a pillar value; with its pillar in DIR/pillar."""
    root.mkdir()
    (root / "top.sls").write_text("'*': [page]\n")
    (root / "page.sls").write_text("page:\n  file.managed:\n    - name: /srv/page.txt\n"
                                   "    - contents: \"{{ pillar['greeting'] }}\"\n    - makedirs: true\n")
    if pillar:
        (root / "pillar").mkdir()
        (root / "pillar" / "top.sls").write_text("'*': [common]\n")
        (root / "pillar" / "common.sls").write_text("greeting: hello from DIR/pillar\n")
    return root


def test_apply_right_after_init_takes_the_pillar_beside_the_states_and_says_so(site: Site, tmp_path: Path) -> None:
    with open(site.minion_config("node1"), "a") as f:
        f.write("file_root_prefix: root\n")
    site.start_master()
    site.start_minion("node1")
    wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == 1, 20, "node1")

    bare = make_tree(tmp_path / "bare", pillar=False)
    one_line_exit_2(run(HAMASTER, "apply", str(bare), "-t", "node1", "--test", "-c", site.config),
                    f"{site.root}/states/pillar: no such pillar tree", f"no {bare}/pillar")

    tree = make_tree(tmp_path / "tree", pillar=True)
    applied = site.cli("apply", str(tree), "-t", "node1", "--timeout", "20")
    assert f"pillar tree: {tree}/pillar (pillar_root {site.root}/states/pillar of {site.config} does not exist)" \
        in applied.stderr
    assert (site.root / "minions" / "node1" / "root" / "srv" / "page.txt").read_text() == "hello from DIR/pillar"

    (tree / "pillar" / "top.sls").unlink()
    broken = run(HAMASTER, "apply", str(tree), "-t", "node1", "--test", "-c", site.config)
    # which pillar it took, then what is wrong with it (a tree, not master.yaml: exit 1)
    note, error = broken.stderr.strip().splitlines()
    assert broken.returncode == 1 and note.startswith(f"pillar tree: {tree}/pillar ")
    assert error.endswith(f"template 'top.sls' not found in the pillar tree {tree}/pillar")


def test_a_probe_of_master_yaml_reaches_the_daemon_as_written(site: Site) -> None:
    """probes: checked by the schema, then built by the daemon: port, path and nodes as the file says."""
    asked: list[str] = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b"<h1>node2</h1>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with open(site.config, "a") as f:
            f.write(f"probes:\n  - {{vip: 127.0.0.1, port: {server.server_port}, path: /health, interval_ms: 20,"
                    " nodes: [node1, node2]}\n")
        site.start_master()
        wait_for(lambda: site.count("SELECT COUNT(*) FROM events WHERE tag = 'beacon/probe/127.0.0.1/node2'"), 20,
                 "the probe's first observation")
        assert set(asked) == {"/health"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
