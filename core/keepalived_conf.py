"""One reader of keepalived.conf: what the minion reports of its node, what pair lint and `check` compare.

    conf = parse(Path("/etc/keepalived/keepalived.conf").read_text())
    conf.instances["VI_1"].vips       # ('192.168.16.130',)
    facts(conf)                       # the same, JSON/msgpack-able, without any secret

keepalived's syntax: statements of words, a `{ ... }` block after the words of a statement (on its line or the
next one), comments from `#` or `!` to the end of a line, "quoted words", and `include GLOB` anywhere (relative
to the including file's folder; every path is looked up under `root`, e.g. a process's /proc/<pid>/root).
Not understood: `@id` conditional lines (skipped: which variant applies depends on keepalived's -i) and
`$VAR` definitions (kept as written).

Authentication (`auth_pass`) is read, because pair lint compares it, but lives only in `VrrpInstance.auth`:
`facts()` gives only `auth_digest`, 32 bits of a hash of it, so `hamaster check` can tell two nodes' live
configs apart without the secret leaving the node: some 2^20 of keepalived's 8-character passwords share
each digest, so it names none of them (VRRP's PASS itself travels in clear in every advert).

`wire_network(instance, addresses)` is where an instance is heard, the same string on every node of its
VRRP group, so the master can tell one group on the wire from another with the same VRID and name:
multicast: the instance's interface's primary network in its family (`10.99.0.0/24`; the interface's name is
left out, two nodes of a pair may call it eth0 and ens3); unicast: `unicast:` and the sorted endpoints
(unicast_src_ip, or the interface's primary address, and the peers: each side lists the other).
"""

import glob
import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/etc/keepalived/keepalived.conf"
_INCLUDE_DEPTH = 8  # keepalived's own limit is deeper; a loop of includes stops here
_TOKEN = re.compile(r'"[^"]*"|[{}]|[^\s{}"]+')

Statement = list[Any]  # words (str), then at most one nested list of statements: its block


@dataclass(frozen=True, slots=True)
class SyncGroup:
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrackFile:
    name: str
    path: str
    weight: int


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    name: str
    state: str = ""
    interface: str = ""
    vrid: int | None = None
    priority: int = 100  # keepalived's default
    advert_int: float = 1.0
    version: int | None = None  # None: the global vrrp_version (2 unless set)
    vips: tuple[str, ...] = ()  # addresses without prefix, sorted
    family: str | None = None  # inet | inet6; None without VIPs
    unicast_src_ip: str | None = None
    unicast_peers: tuple[str, ...] = ()
    nopreempt: bool = False
    preempt_delay: float = 0.0
    tracked: dict[str, int] = field(default_factory=dict)  # script, process or file name -> weight
    sync_group: str | None = None
    auth: tuple[str, ...] = field(default=(), repr=False)  # PRIVATE: "auth_type PASS", "auth_pass ..."


@dataclass(frozen=True, slots=True)
class KeepalivedConf:
    instances: dict[str, VrrpInstance]
    sync_groups: dict[str, SyncGroup]
    scripts: dict[str, int]  # vrrp_script / vrrp_track_process name -> its weight
    track_files: dict[str, TrackFile]
    vrrp_version: int = 2


# -- the block reader ---------------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        words = _TOKEN.findall(line)
        for i, word in enumerate(words):  # a comment starts at a word beginning with # or !, not inside quotes
            if word[0] in "#!":
                words = words[:i]
                break
        if words and words[0].startswith("@"):
            continue
        out.extend(words)
        out.append("\n")
    return out


def _blocks(tokens: list[str]) -> list[Statement]:
    stack: list[list[Statement]] = [[]]
    current: Statement = []
    for tok in tokens:
        if tok == "\n":
            if current:
                stack[-1].append(current)
                current = []
        elif tok == "{":
            if not current and stack[-1] and not isinstance(stack[-1][-1][-1], list):
                current = stack[-1].pop()  # `vrrp_instance VI_1` then `{` on the next line
            block: list[Statement] = []
            current.append(block)
            stack[-1].append(current)
            stack.append(block)
            current = []
        elif tok == "}":
            if current:
                stack[-1].append(current)
                current = []
            if len(stack) > 1:
                stack.pop()
        else:
            current.append(tok[1:-1] if tok.startswith('"') and len(tok) > 1 else tok)
    if current:
        stack[-1].append(current)
    return stack[0]


def _words(stmt: Statement) -> list[str]:
    return [w for w in stmt if isinstance(w, str)]


def _body(stmt: Statement) -> list[Statement]:
    return next((w for w in stmt if isinstance(w, list)), [])


def _statements(text: str, root: Path, here: str, depth: int = 0) -> list[Statement]:
    """The file's statements with every `include` (at any level: a file of virtual_ipaddress lines, say)
    replaced by the statements of the files it names."""
    return _expand(_blocks(_tokens(text)), root, here, depth)


def _expand(body: list[Statement], root: Path, here: str, depth: int) -> list[Statement]:
    out: list[Statement] = []
    for stmt in body:
        words = _words(stmt)
        if words[:1] == ["include"] and len(words) > 1:
            if depth < _INCLUDE_DEPTH:
                out += _included(words[1], root, here, depth)
        elif _body(stmt):
            out.append([*words, _expand(_body(stmt), root, here, depth)])
        else:
            out.append(stmt)
    return out


def _included(pattern: str, root: Path, here: str, depth: int) -> list[Statement]:
    out: list[Statement] = []
    absolute = os.path.join(here, pattern)
    for path in sorted(glob.glob(str(root / absolute.lstrip("/")))):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue  # keepalived itself skips an include it cannot read
        inner = "/" + os.path.dirname(os.path.relpath(path, root))
        out += _statements(text, root, inner, depth + 1)
    return out


# -- what the statements mean -------------------------------------------------------------------------------
def _number(words: list[str], kind: type[int] | type[float], default: Any) -> Any:
    try:
        return kind(words[1])
    except (IndexError, ValueError):
        return default


def _weight(body: list[Statement]) -> int:
    for words in map(_words, body):
        if words[:1] == ["weight"]:
            return int(_number(words, int, 0))
    return 0


def _address(word: str) -> str:
    return word.split("/", 1)[0]


def _instance(name: str, body: list[Statement], weights: dict[str, int], global_version: int) -> VrrpInstance:
    fields: dict[str, Any] = {"name": name, "tracked": {}}
    for stmt in body:
        words = _words(stmt)
        key = words[0] if words else ""
        if key == "state" and len(words) > 1:
            fields["state"] = words[1].upper()
        elif key == "interface" and len(words) > 1:
            fields["interface"] = words[1]
        elif key == "virtual_router_id":
            fields["vrid"] = _number(words, int, None)
        elif key == "priority":
            fields["priority"] = _number(words, int, 100)
        elif key == "advert_int":
            fields["advert_int"] = _number(words, float, 1.0)
        elif key == "version":
            fields["version"] = _number(words, int, None)
        elif key == "nopreempt":
            fields["nopreempt"] = True
        elif key == "preempt_delay":
            fields["preempt_delay"] = _number(words, float, 0.0)
        elif key == "unicast_src_ip" and len(words) > 1:
            fields["unicast_src_ip"] = _address(words[1])
        elif key == "unicast_peer":
            fields["unicast_peers"] = tuple(_address(_words(s)[0]) for s in _body(stmt) if _words(s))
        elif key == "authentication":
            fields["auth"] = tuple(" ".join(_words(s)) for s in _body(stmt))
        elif key == "virtual_ipaddress":
            fields["vips"] = tuple(sorted(_address(_words(s)[0]) for s in _body(stmt) if _words(s)))
        elif key in ("track_script", "track_process", "track_file"):
            for track in map(_words, _body(stmt)):
                if track:  # `name weight N` in the instance overrides the tracked object's own weight
                    own = weights.get(track[0], 0)
                    fields["tracked"][track[0]] = _number(track[1:], int, own) if track[1:2] == ["weight"] else own
    vips = fields.get("vips", ())
    if vips:
        fields["family"] = "inet6" if ":" in vips[0] else "inet"
    if "version" not in fields and global_version != 2:
        fields["version"] = global_version
    return VrrpInstance(**fields)


def parse(text: str, *, root: Path = Path("/"), here: str = "/etc/keepalived") -> KeepalivedConf:
    """A keepalived.conf whose folder is `here` (for relative includes), every path seen under `root`."""
    stmts = _statements(text, root, here)
    weights: dict[str, int] = {}
    track_files: dict[str, TrackFile] = {}
    version = 2
    for stmt in stmts:
        words = _words(stmt)
        if len(words) >= 2 and words[0] in ("vrrp_script", "vrrp_track_process"):
            weights[words[1]] = _weight(_body(stmt))
        elif len(words) >= 2 and words[0] in ("vrrp_track_file", "track_file"):  # track_file: keepalived >= 2.2
            body = _body(stmt)
            path = next((w[1] for w in map(_words, body) if w[:1] == ["file"] and len(w) > 1), "")
            track_files[words[1]] = TrackFile(words[1], path, _weight(body))
            weights[words[1]] = track_files[words[1]].weight
        elif words[:1] == ["global_defs"]:
            for sub in map(_words, _body(stmt)):
                if sub[:1] == ["vrrp_version"]:
                    version = _number(sub, int, 2)
    groups: dict[str, SyncGroup] = {}
    member_of: dict[str, str] = {}
    for stmt in stmts:
        words = _words(stmt)
        if len(words) >= 2 and words[0] == "vrrp_sync_group":
            members = tuple(w for s in _body(stmt) if _words(s)[:1] == ["group"]
                            for m in _body(s) for w in _words(m))
            groups[words[1]] = SyncGroup(words[1], members)
            member_of.update((m, words[1]) for m in members)
    instances = {}
    for stmt in stmts:
        words = _words(stmt)
        if len(words) >= 2 and words[0] == "vrrp_instance":
            inst = _instance(words[1], _body(stmt), weights, version)
            if inst.name in member_of:
                inst = replace(inst, sync_group=member_of[inst.name])
            instances[inst.name] = inst
    return KeepalivedConf(instances, groups, weights, track_files, version)


def read(path: str | Path = DEFAULT_PATH, root: Path = Path("/")) -> tuple[KeepalivedConf, bytes]:
    """The config at `path` (as seen under `root`) and the main file's bytes (for a checksum). OSError if unreadable."""
    where = root / str(path).lstrip("/")
    raw = where.read_bytes()
    return parse(raw.decode(errors="replace"), root=root, here=os.path.dirname("/" + str(path).lstrip("/"))), raw


def auth_digest(inst: VrrpInstance) -> str | None:
    """8 hex digits that differ when two nodes' authentication of `inst` differs (None: no authentication)."""
    if not inst.auth:
        return None
    text = "\0".join(("hamaster-vrrp-auth", inst.name, *inst.auth))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _family(inst: VrrpInstance) -> str:
    if inst.family:
        return inst.family
    ends = [a for a in (inst.unicast_src_ip, *inst.unicast_peers) if a]
    return "inet6" if ends and ":" in ends[0] else "inet"


Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _primary(inst: VrrpInstance, addresses: dict[str, list[str]]) -> Interface | None:
    """The first address of the instance's interface in its family that is not one of its VIPs nor link-local."""
    version = 6 if _family(inst) == "inet6" else 4
    vips = {_canonical(v) for v in inst.vips}
    for word in addresses.get(inst.interface, ()):
        try:
            address = ipaddress.ip_interface(word)
        except ValueError:
            continue
        if address.version == version and str(address.ip) not in vips and not address.is_link_local:
            return address
    return None


def instance_facts(config: Mapping[str, Any] | None, instance: str) -> dict[str, Any]:
    """One instance's facts out of a minion's config event data (`instances` -> name -> facts(), as the minion
    sends them); {} when it does not say."""
    facts = ((config or {}).get("instances") or {}).get(instance)
    return facts if isinstance(facts, dict) else {}


def wire_network(inst: VrrpInstance, addresses: dict[str, list[str]]) -> str | None:
    """Where `inst` is heard (see the module's docstring), from its node's `addresses` ({interface:
    ["10.99.0.11/24", ...]}, primary first, as `ip -j addr` lists them). None: its node cannot tell."""
    primary = _primary(inst, addresses)
    if inst.unicast_peers:
        source = inst.unicast_src_ip or (str(primary.ip) if primary else None)
        ends = {_canonical(a) for a in (source, *inst.unicast_peers) if a}  # one spelling on both nodes
        return "unicast:" + ",".join(sorted(ends)) if source else None
    return str(primary.network) if primary else None


def _canonical(address: str) -> str:
    """An address as the kernel writes it (keepalived.conf may say `FD00:0::12`, the kernel `fd00::12`)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def facts(conf: KeepalivedConf) -> dict[str, Any]:
    """What a node may tell about its VRRP setup: everything but authentication, of which only a digest."""
    instances = {}
    for name, inst in conf.instances.items():
        d = asdict(inst)
        del d["auth"]
        d["auth_digest"] = auth_digest(inst)
        d["vips"], d["unicast_peers"] = list(inst.vips), list(inst.unicast_peers)
        instances[name] = d
    return {"instances": instances,
            "sync_groups": {name: list(g.members) for name, g in conf.sync_groups.items()},
            "track_files": {name: {"path": t.path, "weight": t.weight} for name, t in conf.track_files.items()}}
