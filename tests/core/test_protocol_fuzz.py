"""The frame decoder under property-based fuzzing: only Refused comes out, and only valid events pass.

The whole path (a real master storing what passes) is fuzzed in tests/hardening/test_peer_fuzz.py.
"""

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hamaster.core import protocol
from hamaster.core.events import KINDS, VRRP_STATES, Event

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
scalars = (st.none() | st.booleans() | ints | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
           | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.binary(max_size=4) | ints, inner, max_size=4), max_leaves=20)
TYPES = ["hello", "events", "ping", "job_result", "ack", "nope"]
frames = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1", True, 1.0]), "t": st.sampled_from(TYPES)},
    optional={"events": st.lists(st.fixed_dictionaries(
        {}, optional={"seq": values | ints, "node_ns": values | ints,
                      "kind": st.sampled_from(KINDS) | values, "tag": values, "state": st.sampled_from(VRRP_STATES),
                      "instance": values, "priority": ints, "source": values, "data": values}), max_size=5),
        "ts": values, "grains": values, "jid": values, "result": values, "seqs": values, "backlog": values},
)


def plain(value: object, depth: int = 1) -> bool:
    """What JSON can hold, as the protocol promises it."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\0" not in value
    if isinstance(value, list):
        return depth <= protocol.MAX_DEPTH and all(plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return depth <= protocol.MAX_DEPTH and all(type(k) is str and plain(k) and plain(v, depth + 1)
                                                  for k, v in value.items())
    return False


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        protocol.decode_from_minion(data)
    except protocol.Refused as exc:
        assert exc.reason in protocol.REASONS


@settings(max_examples=800, deadline=None)
@given(frames)
def test_structured_garbage_is_refused_or_yields_valid_events(frame: dict) -> None:
    try:
        msg = protocol.decode_from_minion(msgpack.packb(frame, use_bin_type=True))
    except protocol.Refused as exc:
        assert exc.reason in protocol.REASONS
        return
    assert frame["v"] == 1 and type(frame["v"]) is int
    if isinstance(msg, protocol.Hello):
        try:
            assert plain(protocol.plain_map(msg.grains, protocol.MAX_GRAINS, "grains"))
        except protocol.Refused:
            assert not plain(frame["grains"]) or not isinstance(frame["grains"], dict)
    if not isinstance(msg, protocol.GoodEvents | protocol.Events):
        return
    for raw in msg.events:
        try:
            ev = protocol.event_from_wire(raw)
        except protocol.Refused:
            continue
        assert isinstance(ev, Event) and 0 < ev.seq < 2**63 and 0 < ev.node_ns < 2**63 and ev.kind in KINDS
        assert ev.kind != "vrrp" or (ev.state in VRRP_STATES and isinstance(ev.instance, str))
        assert ev.priority is None or 0 <= ev.priority <= 255
        assert plain(ev.data) and isinstance(ev.data, dict)
        assert "\0" not in ev.tag + (ev.instance or "") + (ev.state or "")


@pytest.mark.parametrize(("value", "why"), [
    ({"k": b"bytes"}, "bytes"), ({b"k": 1}, "bytes"), ({"k": {b"k": 1}}, "key of type bytes"),
    ({"k": msgpack.ExtType(1, b"x")}, "Ext"),
    ({"k": float("nan")}, "finite"), ({"k": float("inf")}, "finite"), ({"k": "a\0b"}, "NUL"),
    ({"k": 2**64 - 1}, "64-bit"), ({"k": "x" * (protocol.MAX_DATA + 1)}, "exceeds"),
])
def test_what_json_cannot_hold_is_refused_in_data(value: dict, why: str) -> None:
    raw = msgpack.packb({"seq": 1, "node_ns": 1, "kind": "beacon", "tag": "beacon/x/y", "data": value},
                        use_bin_type=True)
    with pytest.raises(protocol.Refused, match=why) as caught:
        protocol.event_from_wire(raw)
    assert caught.value.reason == "bad_value"
    assert protocol.seq_of(raw) == 1  # acked all the same


def test_nesting_past_the_limit_is_refused_and_within_it_passes() -> None:
    deep: object = 1
    for _ in range(protocol.MAX_DEPTH - 1):
        deep = [deep]
    protocol.plain_map(msgpack.packb({"k": deep}), protocol.MAX_DATA, "data")  # MAX_DEPTH levels with the map
    with pytest.raises(protocol.Refused, match="nested deeper"):
        protocol.plain_map(msgpack.packb({"k": [deep]}), protocol.MAX_DATA, "data")
    very: object = 1
    for _ in range(500):
        very = [very]
    with pytest.raises(protocol.Refused):
        protocol.plain_map(msgpack.packb({"k": very}), protocol.MAX_DATA, "data")


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None])
def test_only_the_integer_1_is_version_1(version: object) -> None:
    with pytest.raises(protocol.Refused) as caught:
        protocol.decode_from_minion(msgpack.packb({"v": version, "t": "ping", "ts": 1}))
    assert caught.value.reason == "version"


def test_a_carriage_return_in_an_instance_name_is_kept() -> None:
    raw = msgpack.packb({"seq": 1, "node_ns": 1, "kind": "vrrp", "tag": "vrrp/a\rb/MASTER", "instance": "a\rb",
                         "state": "MASTER"})
    assert protocol.event_from_wire(raw).instance == "a\rb"


def test_frames_the_minion_reads_decode_as_maps() -> None:
    assert protocol.decode(protocol.encode("ack", seqs=[[1, 3]])) == {"v": 1, "t": "ack", "seqs": [[1, 3]]}
    assert protocol.decode(protocol.encode("pong", ts=5))["ts"] == 5
    assert protocol.decode(protocol.encode("job", jid="j1", job={"a": [1]}))["job"] == {"a": [1]}
