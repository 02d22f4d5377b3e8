"""Planning and rolling an apply: a job per minion (render, compile, mask), waves that never hold both members of a pair.

Rolling (the default when targets share a VRRP instance, as the store knows from their events): the current
BACKUPs of all pairs and the minions in no pair first, together, waiting until their states succeeded and
each BACKUP is BACKUP again; then the MASTERs, together. A pair never has both members in flight, and 500
pairs roll in two waves, not 1,000. The first failure stops the run and leaves the rest, the MASTERs above
all, untouched.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hamaster.core.protocol import JOB_VERSION
from hamaster.master import store
from hamaster.master.states.compiler import compile_states
from hamaster.master.states.highstate import pillar_secrets
from hamaster.master.states.render import render_pillar, render_states

Send = Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any] | None]]
POLL_S = 0.2


@dataclass(frozen=True)
class Plan:
    minion: str
    job: dict[str, Any]
    secrets: list[str]
    keepalived_conf: str | None  # what pair lint reads


@dataclass(frozen=True)
class Wave:
    minions: list[str]
    wait_backup: dict[str, list[str]]  # minion -> instances that must be BACKUP again before going on


def plan_minion(state_root: Path, pillar_root: Path, minion: str, grains: dict[str, Any], test: bool,
                only: list[str] | None = None) -> Plan:
    pillar = render_pillar(pillar_root, minion, grains)
    chunks = compile_states(render_states(state_root, minion, grains, pillar, only).states)
    secrets = pillar_secrets(pillar)
    conf = next((c["args"].get("contents") for c in chunks
                 if c["fun"] == "file.managed" and c["name"].endswith("/keepalived.conf")), None)
    return Plan(minion, {"v": JOB_VERSION, "test": test, "mask": secrets, "chunks": chunks}, secrets, conf)


def waves_for(targets: list[str], vrrp: dict[str, dict[str, tuple[str, int | None, int]]]) -> list[Wave]:
    """The BACKUPs of all pairs and the minions in no pair together, then the MASTERs together.

    A minion never shares a wave with a peer (a minion it shares a VRRP instance with), so a pair never has
    both members in flight; a MASTER is never in the first wave. Usually that makes two waves; active-active
    pairs (each MASTER of one instance) or a pair without a MASTER need one more. Each minion that was not
    MASTER of a shared instance must be BACKUP in it again before the next wave.
    """
    members: dict[str, set[str]] = {}
    for minion in targets:
        for instance in vrrp.get(minion, {}):
            members.setdefault(instance, set()).add(minion)
    shared = {i: ms for i, ms in members.items() if len(ms) > 1}
    is_master = {m for i, ms in shared.items() for m in ms if vrrp[m][i][0] == "MASTER"}
    waves: list[set[str]] = [set()]
    for m in sorted(targets, key=lambda m: (m in is_master, m)):
        peers = set().union(*(ms for ms in shared.values() if m in ms)) - {m}
        n = next((n for n in range(1 if m in is_master else 0, len(waves)) if not peers & waves[n]), len(waves))
        if n == len(waves):
            waves.append(set())
        waves[n].add(m)

    def waits(m: str) -> list[str]:
        return sorted(i for i, ms in shared.items() if m in ms and vrrp[m][i][0] != "MASTER")

    return [Wave(sorted(ms), {m: waits(m) for m in sorted(ms) if waits(m)}) for ms in waves if ms]


def wait_backup(store_path: str, waits: dict[str, list[str]], timeout: float) -> str | None:
    """Poll the store until every (minion, instance) is BACKUP; the reason it is not, after `timeout`."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / POLL_S) + 2):
        conn = store.connect(store_path, readonly=True)
        try:
            states = store.current_vrrp_states(conn)
        finally:
            conn.close()
        late = {(m, i): states.get(m, {}).get(i, ("unknown",))[0]
                for m, insts in waits.items() for i in insts}
        late = {k: v for k, v in late.items() if v != "BACKUP"}
        if not late or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    if not late:
        return None
    return "; ".join(f"{m} {i} is {s}, not back in BACKUP within {timeout:g} s" for (m, i), s in late.items())


def run_waves(waves: list[Wave], plans: dict[str, Plan], send: Send,
              wait: Callable[[dict[str, list[str]]], str | None]) -> tuple[dict[str, Any], dict[str, str]]:
    results: dict[str, dict[str, Any] | None] = {}
    notes: dict[str, str] = {}
    for n, wave in enumerate(waves):
        answered = send({m: plans[m].job for m in wave.minions})
        results.update({m: answered.get(m) for m in wave.minions})
        bad = [m for m in wave.minions if not succeeded(answered.get(m))]
        for m in bad:
            if answered.get(m) is None:
                notes[m] = "no answer within the timeout"
        if not bad and wave.wait_backup:
            reason = wait(wave.wait_backup)
            if reason:
                notes.update({m: reason for m in wave.wait_backup})
                bad = list(wave.wait_backup)
        if bad:
            rest = [m for w in waves[n + 1:] for m in w.minions]
            for m in rest:
                results[m] = None
                notes[m] = f"not applied: rolling apply stopped at {', '.join(bad)}"
            break
    return results, notes


def succeeded(result: dict[str, Any] | None) -> bool:
    return result is not None and "error" not in result and not result.get("summary", {}).get("failed", 1)
