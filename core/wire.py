"""The decoders of the wire protocol (see protocol.py for the frames): msgspec Structs that validate while
they decode, and the check of the free-form maps (`data`, grains, a job's result) against what JSON holds.
Import through `hamaster.core.protocol` (`protocol.decode_from_minion` ...): it loads this module on first use.
"""

import math
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Raw, Struct

from hamaster.core.events import KINDS, SOURCES, VRRP_STATES, Event
from hamaster.core.protocol import MAX_BATCH, MAX_DATA, MAX_DEPTH, MAX_FRAME, MAX_RESULT, MAX_TEXT, VERSION, Refused

_EMPTY = (b"\x80", b"\xc0")  # an empty map, nil
_NO_NUL = "^[^\x00]*$"
Text = Annotated[str, Meta(max_length=MAX_TEXT, pattern=_NO_NUL)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT, pattern=_NO_NUL)]
Positive = Annotated[int, Meta(gt=0, le=2**63 - 1)]
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]


class _Frame(Struct, tag_field="t", kw_only=True):
    v: Literal[1]


class Hello(_Frame, tag="hello"):
    grains: Raw
    backlog: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 0




class Ping(_Frame, tag="ping"):
    ts: Int64
    reconcile_skipped: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 0  # keepalived dumps the minion could not vouch for
    ntp: tuple[Int64, Int64, Int64, Int64] | None = None  # the last full exchange [t1, t2, t3, t4]
    spool: Text | None = None  # what is wrong with the minion's spool ("disk full ..."); none: it is fine


class JobResult(_Frame, tag="job_result"):
    jid: Name
    result: Raw


class Ack(_Frame, tag="ack"):
    seqs: list[tuple[Positive, Positive]]


class Pong(_Frame, tag="pong"):
    ts: Int64
    rx: Int64 | None = None  # the master's clock when the ping came
    tx: Int64 | None = None  # ... and when it answered


class Job(_Frame, tag="job"):
    jid: Name
    job: dict[str, Any]


class WireEvent(Struct):
    seq: Positive
    # a node time that is no time (NaN, a string, out of range) is not a reason to lose a transition that did
    # happen: it is kept as 1 and marked, and the master replaces it by its receipt (master/correlate/clocks.py)
    node_ns: int | float | str | None
    kind: Literal[KINDS]  # type: ignore[valid-type]
    tag: Name
    instance: Name | None = None
    state: Text | None = None
    priority: Annotated[int, Meta(ge=0, le=255)] | None = None
    source: Literal[SOURCES] = "hook"  # type: ignore[valid-type]
    data: Raw = Raw(b"\x80")  # an empty map; nil is taken as one too


class Events(_Frame, tag="events"):
    """Each event still raw: the slow path, when the fast one failed, so one bad event costs only itself."""

    events: Annotated[list[Raw], Meta(max_length=MAX_BATCH)]


class GoodEvents(_Frame, tag="events"):
    """The fast path: every event of the batch decoded in one call, as it is when a minion sends it."""

    events: Annotated[list[WireEvent], Meta(max_length=MAX_BATCH)]


class _SeqOnly(Struct):
    seq: Positive


_from_minion_fast = msgspec.msgpack.Decoder(Hello | GoodEvents | Ping | JobResult)
_from_minion = msgspec.msgpack.Decoder(Hello | Events | Ping | JobResult)
_any_frame = msgspec.msgpack.Decoder(Hello | Events | Ping | JobResult | Ack | Pong | Job)
_event = msgspec.msgpack.Decoder(WireEvent)
_seq_only = msgspec.msgpack.Decoder(_SeqOnly)
_plain_map = msgspec.msgpack.Decoder(dict[str, Any])


def _refusal(exc: Exception) -> Refused:
    text = str(exc)
    if isinstance(exc, RecursionError):  # msgspec skips even an unknown field by recursion
        return Refused("bad_value", "nested too deep to read")
    if isinstance(exc, msgspec.ValidationError):
        if "`$.v`" in text or "field `v`" in text:
            return Refused("version", f"protocol version: {text} (expected {VERSION})")
        if "`$.t`" in text or "field `t`" in text:
            return Refused("unknown_type", f"message type: {text}")
        if text.startswith("Expected `object`"):
            return Refused("bad_field", "frame is not a map")
        return Refused("bad_field", text)
    return Refused("not_msgpack", f"not msgpack: {text or type(exc).__name__}")


def decode_from_minion(frame: bytes | memoryview) -> Hello | Events | GoodEvents | Ping | JobResult:
    """Parse and validate one frame a minion sent; raise Refused with the reason for anything off."""
    if len(frame) > MAX_FRAME:
        raise Refused("too_large", f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    try:
        return _from_minion_fast.decode(frame)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
        pass  # read it again event by event: which one is wrong, or is it the frame?
    try:
        return _from_minion.decode(frame)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as exc:  # ValidationError is a DecodeError
        raise _refusal(exc) from None


def decode(frame: bytes) -> dict[str, Any]:
    """Parse and validate any frame of the protocol, as a plain map (what the minion reads from its master)."""
    if len(frame) > MAX_FRAME:
        raise Refused("too_large", f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    try:
        msg = _any_frame.decode(frame)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as exc:
        raise _refusal(exc) from None
    out: dict[str, Any] = {"v": VERSION, "t": msg.__struct_config__.tag}
    for name in msg.__struct_fields__:
        value = getattr(msg, name)
        if isinstance(value, Raw):
            value = plain_map(value, MAX_RESULT, name)
        elif name == "events":
            value = [msgspec.msgpack.decode(r) for r in value]
        elif name == "seqs":
            value = [list(r) for r in value]
        out[name] = value
    return out


def plain_map(raw: Raw | bytes, limit: int, what: str) -> dict[str, Any]:
    """A free-form map (data, grains, result) as JSON can hold it, or Refused."""
    if len(raw) > limit:
        raise Refused("bad_value", f"{what}: {len(raw)} bytes exceeds {limit}")
    try:
        value = _plain_map.decode(raw)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as exc:
        raise Refused("bad_value", f"{what}: {exc}") from None
    _check_plain(value, 1, what)
    return value


def _check_plain(value: Any, depth: int, where: str) -> None:
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise Refused("bad_value", f"{where}: NUL in a string")
    elif kind is int:
        if not -(2**63) <= value < 2**63:
            raise Refused("bad_value", f"{where}: integer out of 64-bit range")
    elif kind is float:
        if not math.isfinite(value):
            raise Refused("bad_value", f"{where}: {value} is not a finite number")
    elif value is None or kind is bool:
        pass
    elif kind is list or kind is dict:
        if depth > MAX_DEPTH:
            raise Refused("bad_value", f"{where}: nested deeper than {MAX_DEPTH} levels")
        if kind is list:
            for item in value:
                _check_plain(item, depth + 1, where)
        else:
            for key, item in value.items():
                if type(key) is not str:
                    raise Refused("bad_value", f"{where}: a map key of type {type(key).__name__}")
                _check_plain(key, depth, where)
                _check_plain(item, depth + 1, where)
    else:  # bytes, msgspec.msgpack.Ext, ...
        raise Refused("bad_value", f"{where}: a value of type {kind.__name__}")


def event_from_wire(raw: WireEvent | Raw | bytes) -> Event:
    """Validate one event of an `events` frame (decoded already, or its msgpack bytes)."""
    if isinstance(raw, WireEvent):
        w = raw
    else:
        try:
            w = _event.decode(raw)
        except (msgspec.DecodeError, ValueError, TypeError, RecursionError) as exc:
            raise Refused("bad_field", f"event: {exc}") from None
    if w.kind == "vrrp":
        if w.state not in VRRP_STATES:
            raise Refused("bad_field", f"event: vrrp state {w.state!r} unknown")
        if w.instance is None:
            raise Refused("bad_field", "event: vrrp event without instance")
    data = {} if len(w.data) == 1 and bytes(w.data) in _EMPTY else plain_map(w.data, MAX_DATA, "event data")
    if type(w.node_ns) is int and 0 < w.node_ns < 2**63:
        return Event(w.seq, w.node_ns, w.kind, w.tag, w.instance, w.state, w.priority, w.source, data)
    sent = repr(w.node_ns)[:40]
    return Event(w.seq, 1, w.kind, w.tag, w.instance, w.state, w.priority, w.source, {**data, "node_ns_sent": sent})


def seq_of(raw: WireEvent | Raw | bytes) -> int | None:
    """The seq of an event refused for its other fields (so it can be acked), or None."""
    if isinstance(raw, WireEvent):
        return raw.seq
    try:
        return _seq_only.decode(raw).seq
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
        return None
