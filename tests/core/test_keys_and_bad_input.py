"""Only accepted keys get in; the id comes from the key; bad frames are dropped and counted, never fatal."""

import json
import time

import msgpack
import zmq
import zmq.auth
from sitelib import Site, dealer_of, wait_for

from hamaster.core import protocol
from hamaster.core.protocol import fingerprint
from hamaster.master.intake.keys import make_certificate


def make_stranger(site: Site, claimed_id: str) -> str:
    """A minion whose key the master has never seen, claiming `claimed_id`. Returns its fingerprint."""
    folder = site.root / "minions" / "stranger"
    public, _ = make_certificate(folder, "minion")
    text = (site.root / "minions" / "node1" / "minion.yaml").read_text().replace("id: node1", f"id: {claimed_id}")
    (folder / "minion.yaml").write_text(text)
    return fingerprint(public)


def keys(site: Site) -> dict[str, str]:
    return {e["name"]: e["status"] for e in json.loads(site.cli("key", "list", "--json").stdout)}


def refusals_of_keys(site: Site) -> int:
    """Frames and handshakes the master refused for their key (counted, see master/intake/refusals.py)."""
    refused = json.loads(site.cli("status", "--json").stdout)["refused"]
    return sum(refused.get(r, 0) for r in ("unknown_key", "refused_key", "revoked_key"))


def refused_after(site: Site, before: int) -> None:
    """Two more refusals than `before`: the frame sent after counting was refused (a ping queued earlier may be
    the first; frames of one connection are taken in order; a reconnect is refused at its handshake)."""
    wait_for(lambda: refusals_of_keys(site) >= before + 2, 30, "the stranger's frames to be refused")


def test_pending_rejected_and_deleted_keys_cannot_inject_and_ids_come_from_keys(site: Site) -> None:
    site.start_master()
    fp = make_stranger(site, claimed_id="node2")  # a forged id: node2 is someone else
    site.hook("stranger", "INSTANCE", "VI_1", "MASTER", "100")  # spooled before the minion starts: it holds the
    site.start_minion("stranger")                                # event at its first handshake, which is refused
    wait_for(lambda: keys(site).get(fp) == "pending", 10, "the stranger's key to show as pending")
    assert site.count() == 0

    site.cli("key", "accept", fp, "--id", "node3")
    wait_for(lambda: site.count() == 1, 30, "the event once the key is accepted")
    assert site.query("SELECT minion FROM events WHERE kind = 'vrrp'") == [("node3",)]  # not the node2 it claimed

    site.cli("key", "reject", "node3")  # in force at once, on the open connection too
    before = refusals_of_keys(site)
    site.hook("stranger", "INSTANCE", "VI_1", "BACKUP", "100")
    refused_after(site, before)
    assert site.count() == 1

    site.cli("key", "accept", "node3")
    wait_for(lambda: site.count() == 2, 30, "the event after accepting again")
    site.cli("key", "delete", "node3")
    before = refusals_of_keys(site)
    site.hook("stranger", "INSTANCE", "VI_1", "FAULT", "100")
    refused_after(site, before)
    assert site.count() == 2
    assert "node3" not in keys(site)


def test_bad_frames_are_dropped_counted_and_the_master_keeps_serving(site: Site) -> None:
    site.start_master()
    ctx = zmq.Context()
    sock = dealer_of(ctx, site, "node1")
    try:
        bad = [
            b"\xc1 not msgpack",
            msgpack.packb([1, 2, 3]),
            msgpack.packb({"v": 99, "t": "ping", "ts": 1}),
            msgpack.packb({"v": 1, "t": "launch_missiles"}),
            msgpack.packb({"v": 1, "t": "events", "events": "nope"}),
            protocol.encode("events", events=[{"seq": -1, "node_ns": 1, "kind": "vrrp", "tag": "x"}]),
            protocol.encode("events", events=[{"seq": 7, "node_ns": 1, "kind": "vrrp", "tag": "x", "state": "BOSS",
                                               "instance": "VI_1"}]),
        ]
        for frame in bad:
            sock.send(frame)
        good = {"seq": 8, "node_ns": time.time_ns(), "kind": "vrrp", "tag": "vrrp/VI_1/MASTER", "instance": "VI_1",
                "state": "MASTER", "priority": 100, "source": "hook", "data": {}}
        sock.send(protocol.encode("events", events=[good]))
        assert sock.poll(10_000), "no ack for the good event"
        reply = protocol.decode(sock.recv())
        while reply["t"] != "ack" or not any(lo <= 8 <= hi for lo, hi in reply["seqs"]):
            assert sock.poll(10_000)
            reply = protocol.decode(sock.recv())
    finally:
        sock.close()
        ctx.term()
    assert site.query("SELECT minion, seq, state FROM events WHERE kind = 'vrrp'") == [("node1", 8, "MASTER")]
    status = json.loads(site.cli("status", "--json").stdout)
    assert status["master"] == "up"
    assert status["counters"]["dropped"] == len(bad)
    assert status["minions"]["node1"]["dropped"] == len(bad)


def test_an_oversized_frame_costs_the_sender_its_connection_not_the_master_its_service(site: Site) -> None:
    site.start_master()
    ctx = zmq.Context()
    sock = dealer_of(ctx, site, "node1")
    try:
        sock.send(b"\0" * (protocol.MAX_FRAME + 1))
        event = {"seq": 1, "node_ns": time.time_ns(), "kind": "vrrp", "tag": "vrrp/VI_1/BACKUP", "instance": "VI_1",
                 "state": "BACKUP", "priority": 99, "source": "hook", "data": {}}
        deadline = time.monotonic() + 20
        while site.count() == 0:  # the socket reconnects by itself; resend until the master has it
            assert time.monotonic() < deadline, "the master stopped serving after an oversized frame"
            sock.send(protocol.encode("events", events=[event]))
            time.sleep(0.3)
    finally:
        sock.close()
        ctx.term()
    assert site.query("SELECT minion, seq, state FROM events WHERE kind = 'vrrp'") == [("node1", 1, "BACKUP")]


def test_a_broken_config_is_one_line_naming_file_and_line(site: Site, tmp_path) -> None:
    broken = tmp_path / "master.yaml"
    broken.write_text("bind: tcp://127.0.0.1:1\nheartbeat: [unclosed\n")
    proc = site.run_cli("status", "-c", str(broken), check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"hamaster: error: {broken}:") and proc.stderr.count("\n") == 1
    wrong_type = tmp_path / "typed.yaml"
    wrong_type.write_text("heartbeat: {interval: soon}\n")
    proc = site.run_cli("status", "-c", str(wrong_type), check=False)
    assert "heartbeat.interval: expected a number, got 'soon'" in proc.stderr and proc.returncode == 2


def test_the_hook_always_exits_0_even_with_nonsense() -> None:
    import subprocess

    from sitelib import HAMINION, HOOK

    for args in ([], ["INSTANCE"], ["INSTANCE", "VI_1", "PARTY"], ["-c", "/nonexistent/minion.yaml", "INSTANCE",
                                                                    "VI_1", "MASTER"]):
        for hook in ([HOOK], [HAMINION, "hook"]):  # the plain script keepalived runs, and the subcommand
            proc = subprocess.run([*hook, *args], capture_output=True, text=True, timeout=10)
            assert proc.returncode == 0 and proc.stderr.startswith("haminion hook: "), (hook, args)
