"""The frame decoder under property-based fuzzing: only ProtocolError comes out, and only valid events pass."""

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from hamaster.core import protocol
from hamaster.core.errors import ProtocolError
from hamaster.core.events import KINDS, VRRP_STATES, Event

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
scalars = st.none() | st.booleans() | ints | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=20)
frames = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1"]), "t": st.sampled_from([*protocol._SCHEMAS, "nope"])},
    optional={"events": st.lists(st.fixed_dictionaries(
        {}, optional={"seq": values | ints, "node_ns": values | ints,
                      "kind": st.sampled_from(KINDS) | values, "tag": values, "state": st.sampled_from(VRRP_STATES),
                      "instance": values, "priority": ints, "source": values, "data": values}), max_size=5),
        "ts": values, "grains": values, "jid": values, "result": values, "seqs": values},
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        protocol.decode(data)
    except ProtocolError:
        pass


@settings(max_examples=600, deadline=None)
@given(frames)
def test_structured_garbage_is_refused_or_yields_valid_events(frame: dict) -> None:
    try:
        msg = protocol.decode(msgpack.packb(frame, use_bin_type=True))
    except ProtocolError:
        return
    if msg["t"] != "events":
        return
    for raw in msg["events"]:
        try:
            ev = protocol.event_from_wire(raw)
        except ProtocolError:
            continue
        assert isinstance(ev, Event) and ev.seq > 0 and ev.node_ns > 0 and ev.kind in KINDS
        assert ev.kind != "vrrp" or (ev.state in VRRP_STATES and isinstance(ev.instance, str))
        assert ev.priority is None or 0 <= ev.priority <= 255
