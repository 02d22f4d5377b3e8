"""The wire protocol between minions and the master.

Transport: ZeroMQ, a DEALER on each minion connected to the master's ROUTER, CURVE-encrypted; the master's
ZAP handler admits accepted minion keys only, and the minion id is the one bound to its key on the master
(never a field of the payload). Each ZeroMQ message is one frame: a msgpack map

    {"v": 1, "t": TYPE, ...fields}

minion -> master
    hello       grains: map, backlog: int             first frame after (re)connect
    events      events: [event map, ...]              a batch from the spool, in seq order (see events.Event)
    ping        ts: int, ntp: [t1, t2, t3, t4]        heartbeat; the master answers pong; ntp (optional) is
                                                      the last full exchange, for the clock offset
    job_result  jid: str, result: map                 the answer to a job
master -> minion
    ack         seqs: [[first, last], ...]            these seq ranges are committed: drop them from the spool
    pong        ts: int, rx: int, tx: int             heartbeat answer (echoes ts; master clock on receipt, send)
    job         jid: str, job: map                    run states (see master/jobs.py)

Anything else, or a field of the wrong type, is a ProtocolError: the receiver logs it, counts it and drops
the frame; it never stops serving. Frames over MAX_FRAME bytes are refused by ZeroMQ itself.
"""

import hashlib
from typing import Any

import msgpack

from hamaster.core.errors import ProtocolError
from hamaster.core.events import KINDS, SOURCES, VRRP_STATES, Event

VERSION = 1
JOB_VERSION = 1  # the job map inside a `job` frame (see minion/executor.py)
MAX_FRAME = 8 * 1024 * 1024
MAX_BATCH = 5000
MAX_TEXT = 256

_int = int
# field -> (types, required)
_SCHEMAS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "hello": {"grains": ((dict,), True), "backlog": ((_int,), False)},
    "events": {"events": ((list,), True)},
    "ping": {"ts": ((_int,), True), "ntp": ((list,), False)},
    "job_result": {"jid": ((str,), True), "result": ((dict,), True)},
    "ack": {"seqs": ((list,), True)},
    "pong": {"ts": ((_int,), True), "rx": ((_int,), False), "tx": ((_int,), False)},
    "job": {"jid": ((str,), True), "job": ((dict,), True)},
}


def encode(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"v": VERSION, "t": kind, **fields}, use_bin_type=True)


def decode(frame: bytes) -> dict[str, Any]:
    """Parse and validate one frame; raise ProtocolError with the reason for anything off."""
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    try:
        msg = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("frame is not a map")
    if msg.get("v") != VERSION:
        raise ProtocolError(f"protocol version {msg.get('v')!r}, expected {VERSION}")
    kind = msg.get("t")
    schema = _SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    for name, (types, required) in schema.items():
        if name not in msg:
            if required:
                raise ProtocolError(f"{kind}: missing field {name!r}")
            continue
        value = msg[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ProtocolError(f"{kind}: field {name!r} has type {type(value).__name__}")
    return msg


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ProtocolError(what)


def event_from_wire(raw: Any) -> Event:
    """Validate one event map of an `events` frame."""
    _check(isinstance(raw, dict), "event is not a map")
    seq, node_ns = raw.get("seq"), raw.get("node_ns")
    _check(type(seq) is int and 0 < seq < 2**63, "event seq must be a positive integer")
    # a node time that is no time (NaN, a string, out of range) is kept as 1 and marked: the master replaces
    # it by its receipt time (master/correlate/clocks.py) instead of losing a transition that did happen
    bad_time = None if type(node_ns) is int and 0 < node_ns < 2**63 else repr(node_ns)[:40]
    kind, tag, source = raw.get("kind"), raw.get("tag"), raw.get("source", "hook")
    _check(kind in KINDS, f"event kind {kind!r} unknown")
    _check(isinstance(tag, str) and 0 < len(tag) <= MAX_TEXT, "event tag must be a short string")
    _check(source in SOURCES, f"event source {source!r} unknown")
    instance, state, priority = raw.get("instance"), raw.get("state"), raw.get("priority")
    _check(instance is None or (isinstance(instance, str) and 0 < len(instance) <= MAX_TEXT), "bad instance")
    _check(priority is None or (type(priority) is int and 0 <= priority <= 255), "priority must be 0..255")
    if kind == "vrrp":
        _check(state in VRRP_STATES, f"vrrp state {state!r} unknown")
        _check(instance is not None, "vrrp event without instance")
    else:
        _check(state is None or (isinstance(state, str) and len(state) <= MAX_TEXT), "bad state")
    data = raw.get("data") or {}
    _check(isinstance(data, dict), "event data must be a map")
    if bad_time is not None:
        return Event(seq, 1, kind, tag, instance, state, priority, source, {**data, "node_ns_sent": bad_time})
    return Event(seq, node_ns, kind, tag, instance, state, priority, source, data)


def ranges(seqs: list[int]) -> list[list[int]]:
    """Compress sorted seq numbers into [first, last] ranges for an ack."""
    out: list[list[int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out

def fingerprint(public_key: bytes | str) -> str:
    """A short, stable name for a Z85 public key (shown by `hamaster key list` and `haminion key`)."""
    raw = public_key.encode() if isinstance(public_key, str) else public_key
    return hashlib.sha256(raw).hexdigest()[:16]
