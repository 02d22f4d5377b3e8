"""The whole path under fuzzing: frames from an accepted key through decoder, validation, store and correlator
of a real master. Clean events are stored exactly as sent; a poisoned event (bytes, ExtType, NaN, deep nesting,
NUL, oversized data ...) or a frame with a false version stores nothing; the master lives through all of it."""

import json
import time
from typing import Any

import msgpack
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sitelib import Site

from hamaster.core import protocol


def p(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def pack_map(items: list[tuple[str, bytes]]) -> bytes:
    """A msgpack map from already-packed values (to carry what msgpack-python will not pack, like deep nesting)."""
    return b"\xde" + len(items).to_bytes(2, "big") + b"".join(p(k) + v for k, v in items)


DEEP = b"\x81" + p("k") + b"\x91" * 1000 + p(1)  # {"k": [[[... 1000 levels ...]]]}
# name -> what it does to an event (a dict of packed values)
POISONS: dict[str, Any] = {
    "bytes in data": lambda e: e.update(data=p({"x": b"\x00\x01"})),
    "bytes key in data": lambda e: e.update(data=p({"x": {b"k": 1}})),
    "ExtType in data": lambda e: e.update(data=p({"x": msgpack.ExtType(7, b"boom")})),
    "1000 levels of nesting": lambda e: e.update(data=DEEP),
    "NaN in data": lambda e: e.update(data=p({"x": float("nan")})),
    "infinity in data": lambda e: e.update(data=p({"x": [float("-inf")]})),
    "NUL in data": lambda e: e.update(data=p({"x\0": "y"})),
    "NUL in tag": lambda e: e.update(tag=p("vrrp/VI\0/MASTER")),
    "oversized data": lambda e: e.update(data=p({"x": "y" * (protocol.MAX_DATA + 1)})),
    "integer past 64 bits": lambda e: e.update(data=p({"x": 2**64 - 1})),
    "bool priority": lambda e: e.update(priority=p(True)),
    "data not a map": lambda e: e.update(data=p([1, 2])),
    "unknown kind": lambda e: e.update(kind=p("party")),
}
# what the master adds to an event's data about its node time (master/correlate/clocks.py); the generated
# keys are at most 8 characters, so none of these can be one of them
CLOCK_MARKS = {"node_time_replaced", "node_ns_sent", "clock_offset_ns"}
FRAME_POISONS = {"version true": p(True), "version 1.0": p(1.0), "version 2": p(2), "version '1'": p("1")}

chars = st.characters(exclude_characters="\0", exclude_categories=("Cs",))  # surrogates are not UTF-8
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(chars))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(chars, max_size=6), inner,
                                             max_size=3), max_leaves=8)
# instance names: \r, terminal escapes, any unicode
names = st.text(st.characters(exclude_characters="\0/", exclude_categories=("Cs",)), min_size=1, max_size=40)
event_specs = st.fixed_dictionaries({
    "kind": st.sampled_from(["vrrp", "beacon"]), "instance": names,
    "state": st.sampled_from(["MASTER", "BACKUP", "FAULT"]), "priority": st.none() | st.integers(0, 255),
    "data": st.dictionaries(st.text(chars, max_size=8), json_values, max_size=4),
    "node_ns": st.integers(1, 2**63 - 1) | st.just(0),  # 0: "now", filled in when sent
    "poison": st.none() | st.none() | st.sampled_from(sorted(POISONS)),
})
frame_specs = st.fixed_dictionaries({
    "events": st.lists(event_specs, min_size=1, max_size=4),
    "frame_poison": st.none() | st.none() | st.none() | st.sampled_from(sorted(FRAME_POISONS)),
    "grains": st.none() | st.dictionaries(st.text(chars, max_size=6), json_values, max_size=3)
    | st.sampled_from([{"x": b"bytes"}, {"x": float("nan")}]),
})


class Peer:
    def __init__(self, site: Site, sock: zmq.Socket) -> None:
        self.site, self.sock, self.seq = site, sock, 0
        self.grains: Any = None  # the last clean grains sent

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def marker(self) -> None:
        """A clean event after the frame under test; its ack means the master has committed both."""
        seq = self.next_seq()
        self.sock.send(protocol.encode("events", events=[{"seq": seq, "node_ns": time.time_ns(), "kind": "beacon",
                                                           "tag": "beacon/fuzz/marker", "data": {}}]))
        deadline = time.monotonic() + 30
        while True:
            if not self.sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
                log = (self.site.root / "master.log").read_text()[-3000:]
                raise AssertionError(f"the master stopped answering; the end of its log:\n{log}")
            reply = protocol.decode(self.sock.recv())
            if reply["t"] == "ack" and any(a <= seq <= b for a, b in reply["seqs"]):
                return

    def stored(self, seqs: list[int]) -> dict[int, tuple[Any, ...]]:
        if not seqs:
            return {}
        rows = self.site.query("SELECT seq, kind, tag, instance, state, priority, data FROM events"
                               f" WHERE minion = 'node1' AND seq IN ({','.join('?' * len(seqs))})", *seqs)
        return {r[0]: r[1:] for r in rows}


def build(peer: Peer, spec: dict[str, Any]) -> tuple[bytes, dict[int, dict[str, Any]], list[int]]:
    """The frame, the clean events it carries (seq -> event) and the seqs of the poisoned ones."""
    clean, poisoned, packed = {}, [], []
    for e in spec["events"]:
        seq = peer.next_seq()
        ev = {"seq": seq, "node_ns": e["node_ns"] or time.time_ns(), "kind": e["kind"],
              "tag": f"{e['kind']}/{e['instance']}/{e['state']}", "instance": e["instance"], "state": e["state"],
              "priority": e["priority"], "source": "hook", "data": e["data"]}
        fields = {k: p(v) for k, v in ev.items()}
        if e["poison"]:
            POISONS[e["poison"]](fields)
            poisoned.append(seq)
        else:
            clean[seq] = ev
        packed.append(pack_map(list(fields.items())))
    version = FRAME_POISONS[spec["frame_poison"]] if spec["frame_poison"] else p(1)
    events = b"\xdd" + len(packed).to_bytes(4, "big") + b"".join(packed)
    return pack_map([("v", version), ("t", p("events")), ("events", events)]), clean, poisoned


def strict_json(text: str | None) -> Any:
    """Stored JSON as a strict parser (jq) reads it; NULL is an empty map (the store keeps {} so)."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in stored JSON")
    return json.loads(text, parse_constant=refuse) if text is not None else {}


def test_frames_from_an_accepted_key_through_the_whole_path(site: Site, dealer) -> None:
    master = site.start_master()
    peer = Peer(site, dealer(site, "node1"))
    peer.marker()
    sent = {"clean": 0, "poisoned": 0, "frames refused": 0, "false versions": 0}

    # no shrinking: every example costs a round trip to a real master
    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    @given(frame_specs)
    def one_frame(spec: dict[str, Any]) -> None:
        if spec["grains"] is not None:
            peer.sock.send(p({"v": 1, "t": "hello", "grains": spec["grains"], "backlog": 0}))
            if "x" not in spec["grains"] or not isinstance(spec["grains"]["x"], bytes | float):
                peer.grains = spec["grains"]
        frame, clean, poisoned = build(peer, spec)
        peer.sock.send(frame)
        peer.marker()
        assert master.poll() is None, "the master died"
        stored = peer.stored([*clean, *poisoned])
        # nesting past the decoder's recursion limit cannot be read at all: its whole frame is refused
        unreadable = any(e["poison"] == "1000 levels of nesting" for e in spec["events"])
        if spec["frame_poison"] or unreadable:
            assert stored == {}, f"a frame with {spec['frame_poison'] or 'deep nesting'} stored events"
            sent["frames refused"] += 1
            sent["false versions"] += bool(spec["frame_poison"])
            return
        assert set(stored) == set(clean), f"stored {sorted(stored)}, expected {sorted(clean)}"
        for seq, ev in clean.items():
            kind, tag, instance, state, priority, data = stored[seq]
            assert (kind, tag, instance, state, priority) == (ev["kind"], ev["tag"], ev["instance"], ev["state"],
                                                            ev["priority"])
            # an impossible node time (1 ns after 1970, say) is kept and marked, not refused (tests/truth)
            got = strict_json(data)
            assert {k: v for k, v in got.items() if k not in CLOCK_MARKS} == ev["data"]
        sent["clean"] += len(clean)
        sent["poisoned"] += len(poisoned)

    one_frame()
    assert master.poll() is None
    assert sent["clean"] and sent["poisoned"] and sent["frames refused"]  # the fuzzer reached every branch
    for (data,) in site.query("SELECT data FROM events"):
        strict_json(data)
    grains = site.query("SELECT grains FROM minions WHERE id = 'node1'")
    if peer.grains is not None:
        assert strict_json(grains[0][0]) == peer.grains
    status = json.loads(site.cli("status", "--json").stdout)
    assert status["master"] == "up" and status["refused"].get("bad_value", 0) > 0
    assert status["refused"].get("version", 0) == sent["false versions"]
    for line in site.cli("events", "--json", "--since", "1e9").stdout.splitlines():
        strict_json(line)


def test_an_oversized_frame_is_counted_and_costs_nothing_else(site: Site, dealer) -> None:
    site.start_master()
    peer = Peer(site, dealer(site, "node1"))
    peer.marker()
    peer.sock.send(p({"v": 1, "t": "events", "events": [], "pad": "x" * protocol.MAX_FRAME}))
    peer.marker()
    assert json.loads(site.cli("status", "--json").stdout)["refused"] == {"too_large": 1}
