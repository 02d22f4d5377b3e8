"""Pair lint: compare the rendered keepalived.conf of minions that share a vrrp_instance, before any change.

Errors (the pair would not work as one): virtual_router_id, authentication or VIPs differ.
Warnings (it works, not as meant): priorities tie; a tracked script or process whose weight cannot flip
mastership (|weight| not larger than the priority gap); auth_pass longer than the 8 characters keepalived
keeps. Messages never show auth_pass itself.
"""

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

AUTH_PASS_MAX = 8


@dataclass(frozen=True)
class Lint:
    severity: str  # error | warning
    instance: str
    message: str


@dataclass
class Instance:
    name: str
    minion: str
    state: str = ""
    vrid: str | None = None
    priority: int = 100  # keepalived's default
    auth: tuple[str, ...] = ()
    vips: tuple[str, ...] = ()
    tracked: dict[str, int] = field(default_factory=dict)  # script/process name -> weight


# -- a small reader for keepalived's block syntax ------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = re.split(r"[#!]", line, maxsplit=1)[0]
        out.extend(re.findall(r'"[^"]*"|[{}]|[^\s{}]+', line))
        out.append("\n")
    return out


def _blocks(tokens: list[str]) -> list[Any]:
    """Statements as lists of words; a word list followed by {...} gets the nested statements appended."""
    stack: list[list[Any]] = [[]]
    current: list[Any] = []
    for tok in tokens:
        if tok == "\n":
            if current:
                stack[-1].append(current)
                current = []
        elif tok == "{":
            current.append([])
            stack[-1].append(current)
            stack.append(current[-1])
            current = []
        elif tok == "}":
            if current:
                stack[-1].append(current)
                current = []
            if len(stack) > 1:
                stack.pop()
        else:
            current.append(tok.strip('"'))
    if current:
        stack[-1].append(current)
    return stack[0]


def _words(stmt: list[Any]) -> list[str]:
    return [w for w in stmt if isinstance(w, str)]


def _body(stmt: list[Any]) -> list[Any]:
    return next((w for w in stmt if isinstance(w, list)), [])


def parse_instances(text: str, minion: str) -> list[Instance]:
    stmts = _blocks(_tokens(text))
    weights = {}
    for stmt in stmts:
        words = _words(stmt)
        if len(words) >= 2 and words[0] in ("vrrp_script", "vrrp_track_process"):
            weights[words[1]] = next((int(w[1]) for w in map(_words, _body(stmt)) if w[:1] == ["weight"]), 0)
    out = []
    for stmt in stmts:
        words = _words(stmt)
        if len(words) < 2 or words[0] != "vrrp_instance":
            continue
        inst = Instance(words[1], minion)
        for sub in _body(stmt):
            w = _words(sub)
            key, args = (w[0], w[1:]) if w else ("", [])
            if key == "state" and args:
                inst.state = args[0]
            elif key == "virtual_router_id" and args:
                inst.vrid = args[0]
            elif key == "priority" and args:
                inst.priority = int(args[0])
            elif key == "authentication":
                inst.auth = tuple(" ".join(_words(a)) for a in _body(sub))
            elif key == "virtual_ipaddress":
                inst.vips = tuple(sorted(_words(a)[0] for a in _body(sub) if _words(a)))
            elif key in ("track_script", "track_process"):
                for a in map(_words, _body(sub)):
                    if a:  # `name weight N` in the instance overrides the script's own weight
                        inst.tracked[a[0]] = int(a[2]) if a[1:2] == ["weight"] else weights.get(a[0], 0)
        out.append(inst)
    return out


# -- the lint ------------------------------------------------------------------------------------------------
def lint(configs: dict[str, str]) -> list[Lint]:
    """`configs`: minion id -> its rendered keepalived.conf. Lints for every instance shared by 2+ minions."""
    by_name: dict[str, list[Instance]] = {}
    for minion, text in sorted(configs.items()):
        for inst in parse_instances(text, minion):
            by_name.setdefault(inst.name, []).append(inst)
    out: list[Lint] = []
    for name, group in by_name.items():
        for inst in group:
            for entry in inst.auth:
                key, _, value = entry.partition(" ")
                if key == "auth_pass" and len(value) > AUTH_PASS_MAX:
                    out.append(Lint("warning", name, f"{inst.minion}: auth_pass is {len(value)} characters; "
                                    f"keepalived uses only the first {AUTH_PASS_MAX}"))
        if len(group) < 2:
            continue
        for label, attr in (("virtual_router_id", "vrid"), ("VIPs", "vips")):
            values = {m.minion: getattr(m, attr) for m in group}
            if len(set(values.values())) > 1:
                shown = ", ".join(f"{k}={' '.join(v) if isinstance(v, tuple) else v}" for k, v in values.items())
                out.append(Lint("error", name, f"{label} differ: {shown}"))
        if len({m.auth for m in group}) > 1:  # never print the secret itself
            out.append(Lint("error", name, f"authentication differs between {', '.join(m.minion for m in group)}"))
        ranked = sorted(group, key=lambda m: -m.priority)
        for hi, lo in pairwise(ranked):
            if hi.priority == lo.priority:
                out.append(Lint("warning", name, f"priorities tie: {hi.minion} and {lo.minion} both {hi.priority}"))
                continue
            gap = hi.priority - lo.priority
            for track, weight in hi.tracked.items():
                if weight and abs(weight) <= gap:
                    out.append(Lint("warning", name, f"{track} weight {weight} cannot flip mastership: "
                                    f"{hi.minion} {hi.priority} vs {lo.minion} {lo.priority} (gap {gap})"))
    return out
