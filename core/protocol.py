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
                reconcile_skipped: int                keepalived dumps the minion did not use (see beacons)
                spool: str                            what is wrong with its spool ("disk full"), if anything
    job_result  jid: str, result: map                 the answer to a job
master -> minion
    ack         seqs: [[first, last], ...]            these seq ranges are committed: drop them from the spool
    pong        ts: int, rx: int, tx: int             heartbeat answer (echoes ts; master clock on receipt, send)
    job         jid: str, job: map                    run states (see master/states/rolling.py)

Validation happens once, in wire.py, before anything else touches a frame: msgspec decodes each frame straight
into Structs (exact types: `"v": true` or `1.0` is not version 1, a bool is not an int), and the
free-form maps (an event's `data`, grains, a job's result) are then checked to hold only what JSON can
hold: str keys, str / int (64-bit) / finite float / bool / None / list / map values, no NUL in any string,
at most MAX_DEPTH levels, at most their size limit in bytes. No bytes, no msgpack ExtType, no NaN.
Anything else is a `Refused` (a ProtocolError with a short `reason` the master counts by); the receiver
logs it, counts it and drops the frame; it never stops serving. Unknown fields are ignored (newer peers).
Events are validated one by one, so a poison event is refused (and acked, see intake.py) without its batch;
only nesting past the decoder's recursion limit (~1,000 levels, which no minion writes) refuses a whole frame.

This module holds what every side needs and imports fast (constants, `encode`, `fingerprint`: the CLI's
`hamaster apply` and `key` and the minion's executor read it); the decoders and their msgspec schema live
in wire.py and load on first use of `protocol.decode...` (msgspec and its Structs cost ~40 ms to import).
"""

import hashlib
from typing import TYPE_CHECKING, Any

import msgpack

from hamaster.core.errors import ProtocolError

if TYPE_CHECKING:
    pass

VERSION = 1
JOB_VERSION = 1  # the job map inside a `job` frame (see minion/executor.py)
MAX_FRAME = 8 * 1024 * 1024
MAX_BATCH = 5000
MAX_TEXT = 256
MAX_DATA = 16 * 1024  # an event's `data`, msgpack-encoded
MAX_GRAINS = 64 * 1024
MAX_RESULT = 4 * 1024 * 1024  # a job's result (diffs of the files it changed)
MAX_DEPTH = 32
REASONS = ("too_large", "not_msgpack", "version", "unknown_type", "bad_field", "bad_value")


class Refused(ProtocolError):
    """A frame or event that failed validation; `reason` is one of REASONS (what the master counts by)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def encode(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"v": VERSION, "t": kind, **fields}, use_bin_type=True)

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


_WIRE = ("Ack", "Events", "GoodEvents", "Hello", "Job", "JobResult", "Ping", "Pong", "WireEvent", "decode",
         "decode_from_minion", "event_from_wire", "plain_map", "seq_of")


def __getattr__(name: str) -> Any:
    """The decoders, from wire.py on first use (then bound here, so later lookups are plain)."""
    if name not in _WIRE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from hamaster.core import wire

    for n in _WIRE:
        globals()[n] = getattr(wire, n)
    return globals()[name]
