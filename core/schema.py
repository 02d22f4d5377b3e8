"""The schema of the config files: master.yaml (with its notify, correlator, reactor and probes sections) and
minion.yaml, as msgspec Structs, and `convert`, which checks a parsed mapping against one of them.

msgspec decodes strictly ("80" is not 80, `true` is not 1), refuses unknown fields and knows the path of what
is wrong; `convert` says it on one line, with the whole path and the nearest known name:

    master.yaml:12: notify.targets[2].url: expected a string, got 3
    master.yaml:3: notfiy: unknown field, did you mean notify?

Checks across fields are in `__post_init__`: they raise `ValueError("@field: message")`, the `@` marking a path
relative to the struct (msgspec adds the struct's own). Checks that need the disk (does a folder exist?) or a
library (apprise URLs, Jinja templates) belong to whoever loads the section: core/config.py, notify/config.py.
Relative paths stay strings here; core/config.py resolves them against the folder of the file.
"""

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from msgspec import Meta, Struct, field

from hamaster.core.errors import ConfigFileError
from hamaster.core.incidents import KINDS, SEVERITIES

DEFAULT_PORT = 4506
# the site's timings, what `hamaster init` writes and what a config without them gets: a powered-off node is
# silent before VRRP's own takeover (3 x advert_int + skew, 3.6 s at advert_int 1)
HEARTBEAT_S, SILENT_AFTER_S = 0.5, 2.5

Seconds = Annotated[float, Meta(gt=0)]
SecondsOrZero = Annotated[float, Meta(ge=0)]
Port = Annotated[int, Meta(ge=1, le=65535)]
Name = Annotated[str, Meta(min_length=1)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
if TYPE_CHECKING:  # mypy cannot read a Literal made from a tuple; msgspec checks the values
    Kind = str
    Severity = str
else:
    Kind = Literal[tuple(KINDS)]
    Severity = Literal[tuple(SEVERITIES)]
# info incidents (a start-up overlap of a few ms, a node back) are for the timeline; what they close still follows
DEFAULT_SEVERITIES = ("warning", "critical")


class Section(Struct, forbid_unknown_fields=True):
    """Base of every mapping in a config file: a field it does not know is refused."""


def names(value: list[str] | str) -> list[str]:
    """`tags: chat` is `tags: [chat]`."""
    return [value] if isinstance(value, str) else list(value)


def check_address(value: str, field_name: str, schemes: tuple[str, ...] = ("tcp", "ipc")) -> None:
    """tcp://HOST:PORT (PORT 1..65535) or ipc://PATH: what ZeroMQ would otherwise misread (99999 -> 34463)."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes:
        raise ValueError(f"@{field_name}: expected {' or '.join(f'{s}://...' for s in schemes)}, got {value!r}")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"@{field_name}: expected ipc://PATH, got {value!r}")
        return
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        raise ValueError(f"@{field_name}: expected tcp://HOST:PORT, got {value!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"@{field_name}: port must be a number in 1..65535, got {port!r}")


def check_host_port(value: str, field_name: str) -> None:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"@{field_name}: expected HOST:PORT with a port in 1..65535, got {value!r}")


# -- master.yaml: notify ---------------------------------------------------------------------------------------
class Target(Section):
    """An apprise URL with its tags, or an apprise config file (whose own tags are added)."""

    url: str | None = None
    config: str | None = None
    tags: list[Name] | Name = []
    name: str | None = None
    # DingTalk, WeCom, Feishu/Lark only (notify/services/): checked there, against the URL's service
    base_url: str | None = None
    keyword: str | None = None
    at: list[str | int] | str | int | None = None
    timeout_s: Annotated[float, Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.config is None):
            raise ValueError("@url: give either url: APPRISE_URL or config: FILE")
        self.tags = names(self.tags)


class RateLimit(Section):
    max: Annotated[int, Meta(ge=1)] | None = None  # incidents per window on the route; more are suppressed
    per_s: Seconds = 60.0


class Route(Section):
    name: str | None = None
    tags: list[Name] | Name = field(default_factory=lambda: ["all"])
    kinds: list[Kind] = field(default_factory=lambda: list(KINDS))
    severities: list[Severity] = field(default_factory=lambda: list(DEFAULT_SEVERITIES))
    instances: list[Name] | Name = []  # globs; none: every instance
    planned: bool = False  # send incidents caused by `hamaster apply`?
    rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        self.tags, self.instances = names(self.tags), names(self.instances)


class Retry(Section):
    max_attempts: Annotated[int, Meta(ge=1)] = 8
    backoff_s: Seconds = 1.0
    max_backoff_s: Seconds = 300.0


class Template(Section):
    title: str | None = None
    body: str | None = None


class Notify(Section):
    targets: list[Target | str] = []
    routes: list[Route] = []  # none: one route to every target
    templates: dict[str, Any] = {}  # incident kind -> Template
    retry: Retry = field(default_factory=Retry)
    group_wait_s: SecondsOrZero = 5.0  # a node_silent alert waits this long for a failover that names it
    language: Literal["en", "zh"] = "en"  # of the shipped templates
    timezone: str | None = None  # IANA name for times in messages; none: the master's own

    def __post_init__(self) -> None:
        self.targets = [Target(url=t) if isinstance(t, str) else t for t in self.targets]
        for kind, parts in self.templates.items():
            sub(parts, Template, f"templates.{kind}")


# -- master.yaml: correlator, reactor, probes --------------------------------------------------------------
class InstanceHint(Section):
    vip: str | None = None
    router_id: Annotated[int, Meta(ge=1, le=255)] | None = None


class CorrelatorSettings(Section, frozen=True):  # type: ignore[misc]  # msgspec allows a frozen subclass
    """`correlator:`: how VRRP groups are formed and when their changes become incidents."""

    group_by: Literal["instance", "vip", "router_id"] = "instance"
    # longer than VRRP's own takeover when the holder dies (3 x advert_int + skew: 3.6 s at advert_int 1), so a
    # failover that completes normally is one failover alert, not "no master" + "recovered" + "failover"
    no_master_after_s: Seconds = 5.0
    split_brain_after_s: SecondsOrZero = 1.0
    # a VIP still on a BACKUP or FAULT node this long after the transition is stale (keepalived removes its
    # VIPs as it leaves MASTER; the minion's VIP beacon looks every beacons.interval): a dead keepalived's VIP
    # is stale at once
    stale_vip_after_s: SecondsOrZero = 2.0
    flapping_transitions: Annotated[int, Meta(ge=1)] = 6  # more than this many state changes ...
    flapping_window_s: Seconds = 10.0  # ... within this window is flapping
    planned_grace_s: SecondsOrZero = 15.0  # transitions this long after an apply job ended still count as planned
    replay_quiet_s: SecondsOrZero = 300.0  # incidents older than this found on replay are not alerted
    # a transition this much older than its group's newest one is stored but re-decides nothing; the group
    # keeps this much history (in node time) to place later arrivals
    late_window_s: Seconds = 600.0
    instances: dict[str, dict[str, Any]] = {}  # VI_1: {vip: .., router_id: ..}

    def __post_init__(self) -> None:
        for name, hint in self.instances.items():
            sub(hint, InstanceHint, f"instances.{name}")

    @classmethod
    def load(cls, raw: "dict[str, Any] | CorrelatorSettings", where: str = "master.yaml") -> "CorrelatorSettings":
        return raw if isinstance(raw, CorrelatorSettings) else convert(raw, cls, where, prefix="correlator")


class ReactorRule(Section):
    """A pattern on what happened -> one action: a notify route, or a state the master runs (notify/reactor.py)."""

    match: Name
    notify: str | None = None
    state: str | None = None
    target: str = "{minion}"
    cooldown_s: SecondsOrZero = 300.0

    def __post_init__(self) -> None:
        if (self.notify is None) == (self.state is None):
            raise ValueError("@notify: give exactly one action, notify: ROUTE or state: SLS")


class Probe(Section):
    """The master's own HTTP probe of a VIP: the ground truth of who answers on it."""

    vip: Name
    port: Port = 80
    path: str = "/"
    interval_ms: Annotated[float, Meta(gt=0)] = 50.0
    timeout_ms: Annotated[float, Meta(gt=0)] = 100.0
    nodes: list[Name] | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"@path: expected a path starting with /, got {self.path!r}")


class MasterHeartbeat(Section):
    interval: Seconds = HEARTBEAT_S  # what the master expects of minions
    silent_after: Seconds = SILENT_AFTER_S  # a minion not heard from for this long is `node_silent`

    def __post_init__(self) -> None:
        if self.silent_after <= self.interval:
            raise ValueError(f"@silent_after: must be more than heartbeat.interval ({self.interval:g} s), "
                             f"got {self.silent_after:g}")


class Metrics(Section):
    listen: str | None = None  # HOST:PORT of the Prometheus endpoint

    def __post_init__(self) -> None:
        if self.listen is not None:
            check_host_port(self.listen, "listen")


class MasterFile(Section):
    bind: str = f"tcp://0.0.0.0:{DEFAULT_PORT}"
    control: str | None = None  # default: ipc://control.sock beside master.yaml
    pki_dir: Name = "pki"
    store: Name = "store.db"  # a path, or postgresql://...
    state_root: Name = "states"
    pillar_root: Name = "pillar"
    heartbeat: MasterHeartbeat = field(default_factory=MasterHeartbeat)
    log_level: LogLevel = "info"
    notify: Notify = field(default_factory=Notify)
    correlator: CorrelatorSettings = field(default_factory=CorrelatorSettings)
    reactor: list[ReactorRule] = []
    probes: list[Probe] = []
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        check_address(self.bind, "bind")
        if self.control is not None:
            check_address(self.control, "control")


# -- minion.yaml ---------------------------------------------------------------------------------------------
class MinionHeartbeat(Section):
    interval: Seconds = HEARTBEAT_S
    timeout: Seconds = 10.0  # no pong for this long: the master is taken as gone

    def __post_init__(self) -> None:
        if self.timeout <= self.interval:
            raise ValueError(f"@timeout: must be more than heartbeat.interval ({self.interval:g} s), "
                             f"got {self.timeout:g}")


class Beacons(Section):
    enabled: bool = True
    interval: Seconds = 1.0
    vip: Literal["auto"] | list[Name] = "auto"
    keepalived: bool = True
    nginx: str | bool = "http://127.0.0.1/"  # a URL, or false

    def __post_init__(self) -> None:
        if self.nginx is True or (isinstance(self.nginx, str) and not self.nginx.startswith(("http://", "https://"))):
            raise ValueError(f"@nginx: expected an http:// URL or false, got {self.nginx!r}")


class MinionFile(Section):
    id: str
    master: str | list[str]
    master_key: str
    key: Name = "minion.key_secret"
    spool_dir: Name = "spool"
    fifo: Name | None = None
    keepalived_conf: Name = "/etc/keepalived/keepalived.conf"  # read for the instances' VRIDs and VIPs
    heartbeat: MinionHeartbeat = field(default_factory=MinionHeartbeat)
    reconcile_interval: Seconds = 30.0
    beacons: Beacons = field(default_factory=Beacons)
    log_level: LogLevel = "info"
    file_root_prefix: str | None = None  # tests and the lab: states write under this folder

    def __post_init__(self) -> None:
        if not self.id or "/" in self.id or self.id.startswith((".", "@")):
            raise ValueError(f"@id: expected a plain name (no '/', not starting with '.' or '@'), got {self.id!r}")
        masters = names(self.master)
        if not masters:
            raise ValueError(f"@master: expected an address like tcp://10.0.0.1:{DEFAULT_PORT} or a list of them")
        for i, m in enumerate(masters):
            check_address(m, "master" if isinstance(self.master, str) else f"master[{i}]")
        if len(self.master_key) != 40:
            raise ValueError("@master_key: expected the master's 40-character Z85 public key "
                             f"(pki/master.key), got {len(self.master_key)} characters")


# -- checking a mapping against a Struct, and saying what is wrong ----------------------------------------------
_HUMAN = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
          "object": "a mapping", "array": "a list", "null": "nothing"}
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?:key` in `)?\$(?P<path>[^`]*)`)?$", re.S)
_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+|\.\.\.)\]")


def sub(value: Any, type_: Any, path: str) -> Any:
    """Check a value that msgspec cannot give a path for (a mapping's values), from a `__post_init__`."""
    try:
        return msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as exc:
        parts, message = explain(str(exc), value, type_)
        raise ValueError(f"@{path}{dotted(parts, lead='.')}: {message}") from None


def convert(data: Any, type_: Any, where: str, prefix: str = "", line_of: Any = None) -> Any:
    """`data` as `type_`, or a ConfigFileError `WHERE[:LINE]: PREFIX.PATH: what is wrong`."""
    try:
        return msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as exc:
        parts, message = explain(str(exc), data, type_)
    line = line_of(parts) if line_of else None
    path = dotted([*([prefix] if prefix else []), *parts])
    raise ConfigFileError(f"{where}{f':{line}' if line else ''}: {path or 'the file'}: {message}")


def dotted(parts: Sequence[str | int], lead: str = "") -> str:
    out = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return (out[1:] if out.startswith(".") and not lead else out) if out else ""


def explain(text: str, data: Any, root: Any) -> tuple[list[str | int], str]:
    """msgspec's `Expected `int`, got `str` - at `$.a[1].b`` as (["a", 1, "b"], "expected an integer, got 'x'")."""
    m = _AT.match(text)
    message, path = (m["msg"], m["path"] or "") if m else (text, "")
    parts: list[str | int] = [p if p else int(i) for p, i in _PART.findall(path) if i != "..."]
    if message.startswith("@"):  # ours, from a __post_init__: "@field.sub[0]: message"
        rel, _, message = message[1:].partition(": ")
        return parts + [p if p else int(i) for p, i in _PART.findall("." + rel)], message
    here = type_at(root, parts)
    if found := re.match(r"Object contains unknown field `(.+)`", message):
        name = found[1]
        known = field_names(here)
        return [*parts, name], "unknown field" + nearest(name, known)
    if found := re.match(r"Object missing required field `(.+)`", message):
        return [*parts, found[1]], "required, and missing"
    value = value_at(data, parts)
    if found := re.match(r"Invalid enum value (.+)", message):
        allowed = [a for t in members(here) if get_origin(t) is Literal for a in get_args(t)]
        alternative = " (or a list)" if any(get_origin(t) is list for t in members(here)) else ""
        return parts, f"expected one of {', '.join(map(str, allowed))}{alternative}; got {found[1]}"
    if found := re.match(r"Expected `([^`]+)`(?:, got `([^`]+)`)?(.*)", message):
        wanted = " or ".join(_HUMAN.get(t.strip(), t.strip()) for t in found[1].split("|"))
        bound = found[3].strip().replace(".0", "") if found[3] else ""
        return parts, f"expected {wanted}{f' {bound}' if bound else ''}, got {shown(value)}"
    return parts, message


def shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def nearest(name: str, known: list[str]) -> str:
    import difflib  # only when something is wrong

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f", did you mean {close[0]}?"
    return f" (known: {', '.join(known)})" if known else ""


def members(tp: Any) -> list[Any]:
    """The alternatives of a type: `X | Y | None` -> [X, Y, NoneType], Annotated stripped."""
    if get_origin(tp) is Annotated:
        return members(get_args(tp)[0])
    if get_origin(tp) is Union or type(tp).__name__ == "UnionType":
        return [m for a in get_args(tp) for m in members(a)]
    return [tp]


def field_names(tp: Any) -> list[str]:
    return [f.encode_name for t in members(tp) if isinstance(t, type) and issubclass(t, Struct)
            for f in msgspec.structs.fields(t)]


def type_at(tp: Any, parts: list[str | int]) -> Any:
    """The type the schema expects at a path (for the names it knows there)."""
    for part in parts:
        step = None
        for t in members(tp):
            if isinstance(part, int) and get_origin(t) is list:
                step = get_args(t)[0]
            elif isinstance(part, str) and isinstance(t, type) and issubclass(t, Struct):
                step = next((f.type for f in msgspec.structs.fields(t) if f.encode_name == part), None)
            elif isinstance(part, str) and get_origin(t) is dict:
                step = get_args(t)[1]
            if step is not None:
                break
        if step is None:
            return None
        tp = step
    return tp


def value_at(data: Any, parts: list[str | int]) -> Any:
    for part in parts:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
