"""What the master writes and prints: files for the owner, names that cannot drive a terminal, no NaN, and a
user who may not use the control socket told so (not "master: down")."""

import json
import os
import sqlite3
import stat
import subprocess

from sitelib import HAMASTER, Site, wait_for


def mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_config_and_store_are_not_world_readable(site: Site) -> None:
    assert mode(site.config) == 0o600
    site.start_pair()
    for name in ("store.db", "store.db-wal"):
        assert mode(site.root / name) & 0o027 == 0, f"{name} is {oct(mode(site.root / name))}"


def test_names_are_printed_escaped_and_kept_as_they_are(site: Site) -> None:
    site.start_master()
    site.start_minion("node1")
    name = "VI_\x1b[31mRED\rX"
    assert site.hook("node1", "INSTANCE", name, "MASTER", "100").returncode == 0
    wait_for(lambda: site.count() == 1, 20, "the event")
    assert site.query("SELECT instance FROM events WHERE kind = 'vrrp'") == [(name,)]  # \r not turned into \n
    text = site.cli("events").stdout
    assert "\x1b" not in text and "\r" not in text and "VI_\\x1b[31mRED\\x0dX" in text
    assert json.loads(site.cli("events", "--json").stdout.splitlines()[0])["instance"] == name


def test_events_json_never_prints_nan_even_if_an_older_master_stored_it(site: Site) -> None:
    site.start_pair()
    with sqlite3.connect(site.root / "store.db") as db:  # what a master before strict validation let in
        db.execute("UPDATE events SET data = '{\"x\": NaN, \"y\": [Infinity, 1.5]}'"
                   " WHERE id = (SELECT MIN(id) FROM events)")  # seqs start at a spool's birth, not at 1

    def refuse(name: str) -> None:
        raise ValueError(name)

    rows = [json.loads(line, parse_constant=refuse) for line in site.cli("events", "--json").stdout.splitlines()]
    assert {"x": None, "y": [None, 1.5]} in [r["data"] for r in rows]


def test_a_user_who_may_not_use_the_control_socket_is_told_so(site: Site) -> None:
    site.start_master()
    sock = site.root / "control.sock"
    os.chown(sock, 65534, 65534)  # someone else's socket, mode 0600; root below runs without its capabilities
    proc = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", HAMASTER, "status",
                           "-c", site.config], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "permission denied" in proc.stderr and str(sock) in proc.stderr
    assert "down" not in proc.stdout + proc.stderr
    assert json.loads(site.cli("status", "--json").stdout)["master"] == "up"  # with the right, it answers
