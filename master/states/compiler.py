"""Compile a minion's rendered states into an ordered list of chunks, on the master, before anything runs.

Order: a state runs after every state it requires, watches, or depends on through onchanges / onfail;
otherwise in declaration order (top.sls order, includes first). A requisite that names no state, a cycle,
the same id and module declared twice, an unknown state function or an argument it does not take are
ConfigErrors naming the SLS file and state.

A chunk is a plain map (it travels to the minion inside the job):
    {"key": "file|nginx_conf", "id": "nginx_conf", "fun": "file.managed", "name": "/etc/nginx/nginx.conf",
     "args": {...}, "sls": "nginx", "req": {"require": [key, ...], "watch": [...], ...}}
"""

import heapq
import inspect
from typing import Any

from hamaster.core.errors import ConfigError
from hamaster.master.states.render import REQUISITES, StateDecl
from hamaster.minion.statemods import FUNCTIONS


def chunk_key(decl: StateDecl) -> str:
    return f"{decl.module}|{decl.id}"


def compile_states(states: list[StateDecl]) -> list[dict[str, Any]]:
    by_key: dict[str, StateDecl] = {}
    for decl in states:
        key = chunk_key(decl)
        if key in by_key:
            raise ConfigError(f"{decl.where}: id '{decl.id}' with module {decl.module} is also declared in "
                              f"{by_key[key].path}")
        _check_arguments(decl)
        by_key[key] = decl
    order = {key: i for i, key in enumerate(by_key)}

    edges: dict[str, dict[str, list[str]]] = {key: {kind: [] for kind in REQUISITES} for key in by_key}
    for key, decl in by_key.items():
        for req in decl.requisites:
            found = [k for k, d in by_key.items()
                     if (req.module is None or d.module == req.module) and req.target in (d.id, d.name)]
            if not found:
                ref = f"{req.module}: {req.target}" if req.module else req.target
                raise ConfigError(f"{decl.where}: {req.kind} '{ref}' names no state of this minion")
            for k in found:
                if k == key:
                    raise ConfigError(f"{decl.where}: {req.kind} names the state itself")
                if k not in edges[key][req.kind]:
                    edges[key][req.kind].append(k)

    ordered = _toposort(by_key, order, edges)
    return [
        {"key": key, "id": by_key[key].id, "fun": by_key[key].fun, "name": by_key[key].name,
         "args": by_key[key].args, "sls": by_key[key].sls, "req": {k: v for k, v in edges[key].items() if v}}
        for key in ordered
    ]


def _toposort(by_key: dict[str, StateDecl], order: dict[str, int],
              edges: dict[str, dict[str, list[str]]]) -> list[str]:
    """Kahn's algorithm, always taking the earliest-declared ready state: declaration order where free."""
    deps = {key: {d for kinds in edges[key].values() for d in kinds} for key in by_key}
    users: dict[str, list[str]] = {key: [] for key in by_key}
    for key, ds in deps.items():
        for d in ds:
            users[d].append(key)
    waiting = {key: len(ds) for key, ds in deps.items()}
    ready = [(order[k], k) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, key = heapq.heappop(ready)
        out.append(key)
        for user in users[key]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (order[user], user))
    if len(out) < len(by_key):
        cycle = _find_cycle({k for k, n in waiting.items() if n}, deps)
        first = by_key[cycle[0]]
        raise ConfigError(f"{first.path}: requisite cycle: {' -> '.join(by_key[k].id for k in cycle)}")
    return out


def _find_cycle(stuck: set[str], deps: dict[str, set[str]]) -> list[str]:
    """Walk dependencies among the stuck states until one repeats: that loop is the cycle to report."""
    key = min(stuck)
    seen: list[str] = []
    while key not in seen:
        seen.append(key)
        key = min(d for d in deps[key] if d in stuck)
    return [*seen[seen.index(key):], key]


def _check_arguments(decl: StateDecl) -> None:
    fn = FUNCTIONS.get(decl.fun)
    if fn is None:
        raise ConfigError(f"{decl.where}: unknown state function (known: {', '.join(sorted(FUNCTIONS))})")
    try:
        inspect.signature(fn).bind(None, decl.name, **decl.args)
    except TypeError as exc:
        raise ConfigError(f"{decl.where}: {exc}") from None
