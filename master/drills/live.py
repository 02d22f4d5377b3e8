"""The nodes' live view, as findings: what the minions' `keepalived.readiness` reports say (see
minion/statemods/readiness.py for a report's fields), each with what to do.

    job()                                   the job `hamaster check` sends (test mode: it reads, changes nothing)
    findings(reports, failures, history_s)  reports: minion -> report, or None for a minion that did not answer

Rules: a minion that did not answer; keepalived not running, or its VRRP process not answering (hung); adverts
rejected for their authentication (the peer's auth_pass differs); a BACKUP that hears no adverts, a MASTER
hearing none while its peer sends them (split brain), a MASTER that sends none; a check script BAD; a script
that cannot fail (`cannot_fail`: it prints instead of exiting non-zero, or ends in `|| true`); a tracked script
with no failure in the timeline for SCRIPT_PROOF_DAYS (only when the timeline goes back that far: `notes` says
so otherwise); what `haminion doctor` finds on the node.

A script's failure in the timeline (`failure_marks`): a transition of one of its instances to FAULT (weight
0) or with the priority that script's failure gives (the all-GOOD priority less its weight). A failure that
moved nothing (on a BACKUP) leaves no transition, so this rule is an info, never a warning.
"""

import re
from collections.abc import Callable
from typing import Any

from hamaster.core.protocol import JOB_VERSION
from hamaster.master.correlate.grouping import VrrpGroup
from hamaster.master.drills.readiness import Finding

SCRIPT_PROOF_DAYS = 30
MIN_ADVERTS = 2  # the counters are judged over a window that should hold at least this many adverts
NEVER_FAIL = {"echo", "printf", "true", ":"}
FIREWALL = "check that it hears VRRP (firewall: IP protocol 112; multicast 224.0.0.18, or its unicast_peer)"
Report = dict[str, Any]
GroupOf = Callable[[str, str], VrrpGroup]  # (minion, instance) -> its VRRP group (Snapshot.group_of)


def job() -> dict[str, Any]:
    chunk = {"key": "keepalived|readiness", "id": "readiness", "fun": "keepalived.readiness", "name": "keepalived",
             "args": {}, "sls": "hamaster.check", "req": {}}
    return {"v": JOB_VERSION, "test": True, "mask": [], "chunks": [chunk]}


def report_of(result: dict[str, Any] | None) -> Report | str | None:
    """The report in a job result; a string says why there is none (an old minion, a failed state)."""
    if result is None:
        return None
    for state in result.get("states", []):
        if state.get("fun") == "keepalived.readiness":
            if isinstance(state.get("report"), dict):
                return dict(state["report"])
            return str(state.get("comment") or "no report")
    return "no readiness state in its result"


def findings(reports: dict[str, Report | str | None], failures: dict[tuple[str, str], int | None] | None = None,
             history_s: float | None = None, now_ns: int = 0, timeout_s: float = 0,
             group_of: GroupOf | None = None) -> list[Finding]:
    """`failures`: (minion, script) -> when the timeline last saw that script fail (None: never), for the
    SCRIPT_PROOF_DAYS rule; `history_s`: how far back the timeline goes; `group_of(minion, instance)`: the
    VRRP group a node's instance is in (Snapshot.group_of; without it, the instance name is the group)."""
    out: list[Finding] = []
    for m, rep in sorted(reports.items()):
        if rep is None:
            out.append(Finding("error", None, m, f"{m}'s minion did not answer the readiness probe"
                               + (f" within {timeout_s:g} s" if timeout_s else ""),
                               f"`haminion doctor` on {m}; a minion that is connected but silent may be hung: "
                               "restart haminion there"))
        elif isinstance(rep, str):
            out.append(Finding("warning", None, m, f"{m}'s minion gave no readiness report: {rep}",
                               f"upgrade haminion on {m} to this master's version"))
        else:
            out += node_findings(m, rep)
    out += advert_findings({m: r for m, r in reports.items() if isinstance(r, dict)}, group_of)
    proven = history_s is not None and history_s >= SCRIPT_PROOF_DAYS * 86400
    for m, rep in sorted(reports.items()):
        if not isinstance(rep, dict) or not proven or failures is None:
            continue
        for name, s in sorted(rep.get("scripts", {}).items()):
            last = failures.get((m, name))
            if s.get("status") == "GOOD" and (last is None or now_ns - last > SCRIPT_PROOF_DAYS * 86400 * 10**9):
                out.append(Finding("info", _one(s.get("instances")), m, f"{name} on {m} has not failed in "
                                   f"{SCRIPT_PROOF_DAYS} days (as far as the timeline shows): it is not proven "
                                   "to fail when it should", f"stop what {name} checks on {m} for a moment and "
                                   "watch it go BAD (`hamaster timeline`), or `hamaster drill`"))
    return out


def failure_marks(reports: dict[str, Report | str | None]) -> dict[tuple[str, str], list[tuple[str, int | None]]]:
    """(minion, script) -> the (instance, priority) transitions its failure would make: the instance's
    all-GOOD priority (base plus the positive weights) less the script's weight; None for FAULT only."""
    out: dict[tuple[str, str], list[tuple[str, int | None]]] = {}
    for m, rep in reports.items():
        if not isinstance(rep, dict):
            continue
        scripts, instances = rep.get("scripts", {}), rep.get("instances", {})
        for name, s in scripts.items():
            w = int(s.get("weight") or 0)
            for inst in s.get("instances") or []:
                base = int(instances.get(inst, {}).get("base_priority", 0))
                good = base + sum(max(0, int(o.get("weight") or 0)) for o in scripts.values()
                                  if inst in (o.get("instances") or []))
                out.setdefault((m, name), []).append((inst, good - abs(w) if w else None))
    return out


def notes(history_s: float | None) -> list[str]:
    if history_s is not None and history_s >= SCRIPT_PROOF_DAYS * 86400:
        return []
    days = "no VRRP event yet" if history_s is None else f"{history_s / 86400:.1f} days"
    return [f"whether each tracked script failed in {SCRIPT_PROOF_DAYS} days needs {SCRIPT_PROOF_DAYS} days of "
            f"timeline history: there is {days}"]


def _one(instances: Any) -> str | None:
    return instances[0] if isinstance(instances, list) and len(instances) == 1 else None


def node_findings(m: str, rep: Report) -> list[Finding]:
    out = []
    ka = rep.get("keepalived")
    errors = "; ".join(str(e) for e in rep.get("errors", []))
    if ka == "not running":
        out.append(Finding("error", None, m, f"keepalived is not running on {m} (its minion looked)",
                           f"start keepalived on {m}; its log says why it stopped"))
    elif ka == "hung":
        out.append(Finding("error", None, m, f"keepalived's VRRP process on {m} does not answer ({errors}): stopped "
                           "or stuck, it neither sends adverts nor takes over",
                           f"restart keepalived on {m} (`systemctl restart keepalived`); its log says why"))
    elif ka != "running" or errors:
        out.append(Finding("warning", None, m, f"{m}'s keepalived could not be read fully: {errors or ka}",
                           f"`haminion doctor` on {m}"))
    for inst, i in sorted(rep.get("instances", {}).items()):
        if i.get("auth_failures", 0) > 0:
            out.append(Finding("error", inst, m, f"{m} rejected {i['auth_failures']} adverts of {inst} in "
                               f"{rep.get('window_s', 0):g} s for their authentication: the peer's auth_pass "
                               "differs", "`hamaster apply states/` writes the pillar's auth_pass to both "
                               "nodes (a hand edit of keepalived.conf?)"))
        if i.get("state") == "MASTER" and i.get("advert_sent", 0) <= 0 and judged(rep.get("window_s", 0), i):
            out.append(Finding("error", inst, m, f"{m} is MASTER of {inst} but sent no advert in "
                               f"{rep.get('window_s', 0):g} s: its peer will claim the VIP too",
                               f"restart keepalived on {m}; check that its interface sends VRRP"
                               " (firewall: IP protocol 112)"))
    for name, s in sorted(rep.get("scripts", {}).items()):
        where = _one(s.get("instances"))
        if s.get("status") == "BAD":
            out.append(Finding("error", where, m, f"check script {name} on {m} is BAD (its last run failed): "
                               + (f"{m}'s priority is down by {abs(s['weight'])}" if s.get("weight")
                                  else f"{m} is in FAULT for it"),
                               f"run it by hand on {m} ({s.get('command')}) and repair what it checks"))
            continue
        why = cannot_fail(str(s.get("text") or ""), str(s.get("kind") or "inline"))
        if why:
            out.append(Finding("warning", where, m, f"check script {name} on {m} cannot fail: {why}; keepalived "
                               "never moves the VIP for it",
                               "make it exit non-zero when the check fails (`exit 1`, not `echo 1`; no `|| true`)"
                               " and `hamaster apply`"))
    for d in rep.get("doctor", []):
        out.append(Finding("warning", None, m, f"{m}: {d.get('what')} (haminion doctor)", str(d.get("fix"))))
    return out


def judged(window_s: float, inst: dict[str, Any]) -> bool:
    """Whether the window was long enough to expect MIN_ADVERTS adverts (an advert_int of 5 s is not judged
    on the probe's window of a few seconds)."""
    return window_s >= MIN_ADVERTS * float(inst.get("advert_int") or 1) * 0.9


def advert_findings(reports: dict[str, Report], group_of: GroupOf | None = None) -> list[Finding]:
    """A node that hears no adverts: a BACKUP (it will claim the VIP), or a MASTER while its peer sends them
    (its peers: the nodes of its group, never those of another pair that names its instance alike)."""
    out = []
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for m, rep in reports.items():
        for inst, i in rep.get("instances", {}).items():
            label = group_of(m, inst).label if group_of else inst
            by_group.setdefault(label, {})[m] = dict(i, window_s=rep.get("window_s", 0), instance=inst)
    for label, members in sorted(by_group.items()):
        for m, i in sorted(members.items()):
            inst = i["instance"]
            if i.get("advert_rcvd", 0) > 0 or i.get("auth_failures", 0) > 0 or i.get("state") not in (
                    "BACKUP", "MASTER") or not judged(i["window_s"], i):
                continue  # adverts rejected for their password are heard: said above
            senders = sorted(p for p, pi in members.items() if p != m and pi.get("advert_sent", 0) > 0)
            if i["state"] == "MASTER" and not senders:
                continue  # a MASTER hears nothing from BACKUPs: they are silent in VRRP
            though = f" though {', '.join(senders)} sent them" if senders else ""
            extra = ": both are MASTER (split brain)" if i["state"] == "MASTER" else ": it will claim the VIP"
            out.append(Finding("error", inst, m, f"{m} ({i['state']}) hears no adverts of {label} in "
                               f"{i['window_s']:g} s{though}{extra}", f"on {m}: {FIREWALL}; and that the "
                               "MASTER's keepalived runs", label))
    return out


# -- can a script fail? -------------------------------------------------------------------------------------
# a way to a non-zero exit: `exit 1`, `exit $?`, `exit "$FAIL"`; a bare `exit` after `||` (it keeps the
# failed command's status); set -e; false; the seed's `killall keepalived`
_EXIT_PATH = re.compile(r"\b(?:exit|return)\s+[\"']?(?:0*[1-9]\d*|\$)|\|\|\s*(?:exit|return)\b(?!\s+[\"']?0+\b)|"
                        r"\bset\s+-[a-zA-Z]*e|\bset\s+-o\s+errexit|(?:^|[;&|(\s])false\b|\bkill(?:all)?\b")
_KEYWORDS = ("then", "else", "elif", "do", "if", "fi", "done", "esac")
_SHELLS = re.compile(r"^#!\s*\S*/(?:env\s+)?(?:sh|bash|dash|ash|ksh|zsh|busybox\s+sh)\b")


def cannot_fail(text: str, kind: str = "inline") -> str | None:
    """Why a shell check script always exits 0 (None: it can fail, or it is not shell we read). Read, not run:
    a script with any path to a non-zero exit (`exit 1`, `exit $?`, `set -e`, `false`) can fail; else its exit
    status is its last command's, which cannot fail when it is `echo`/`printf`/`true`/`:`/`exit 0`, ends in
    `|| true`, or is an `if` each branch of which ends so."""
    if kind == "program":
        prog = text.split()[0].rsplit("/", 1)[-1] if text.split() else ""
        return f"`{prog}` always exits 0" if prog in NEVER_FAIL else None
    lines = text.splitlines()
    if lines and lines[0].startswith("#!") and not _SHELLS.match(lines[0]):
        return None  # python, perl ...: not read here
    body = "\n".join(_uncomment(line) for line in lines)
    if _EXIT_PATH.search(body):
        return None
    tokens = _tokens(body)
    if not tokens:
        return "it is empty"
    why = _never_fails(tokens, len(tokens) - 1)
    return f"it exits with its last command's status, and {why}" if why else None


def _uncomment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    return re.sub(r"\s#.*$", "", line) if "'" not in line and '"' not in line else line


def _tokens(body: str) -> list[str]:
    """Simple commands and keywords in order (a naive split on newlines, `;` and `&&`-free keywords)."""
    out = []
    for raw in re.split(r"\n|;(?!;)", body):
        cmd = raw.strip()
        while cmd:
            word = cmd.split(None, 1)
            if word[0] in _KEYWORDS:
                out.append(word[0])
                cmd = word[1].strip() if len(word) > 1 else ""
            else:
                out.append(cmd)
                break
    return [t for t in out if t not in ("{", "}")]


def _never_fails(tokens: list[str], end: int) -> str | None:
    """Why the command ending at tokens[end] always gives 0 (None: it may fail)."""
    last = tokens[end]
    if last == "fi":
        depth, start = 0, end - 1
        while start >= 0:  # the `if` this `fi` closes
            t = tokens[start]
            if t == "if" and depth == 0:
                break
            depth += (t == "fi") - (t == "if")
            start -= 1
        if start < 0:
            return None
        has_else = any(tokens[j] == "else" and _depth(tokens, start, j) == 0 for j in range(start + 1, end))
        ends = [j - 1 for j in range(start + 1, end + 1) if tokens[j] in ("else", "elif", "fi")
                and _depth(tokens, start, j) == 0]
        for j in ends:
            if tokens[j] in ("then", "else") or not _never_fails(tokens, j):
                return None
        branches = [tokens[j] for j in ends]
        return (f"each branch of its last `if` ends in {', '.join(f'`{b}`' for b in branches)}"
                + ("" if has_else else " (and no branch runs: 0)"))
    if last in _KEYWORDS:
        return None
    m = re.search(r"\|\|\s*(true|:|exit\s+0|echo\b.*|printf\b.*)$", last)
    if m:
        return f"its last command ends in `|| {m.group(1).split()[0]}`"
    first = last.split()[0]
    if first in NEVER_FAIL or last == "exit 0":
        return f"its last command is `{last[:40]}` (printing a 1 is not exiting 1)" if first in ("echo", "printf") \
            else f"its last command is `{last[:40]}`"
    return None


def _depth(tokens: list[str], start: int, j: int) -> int:
    """if/fi nesting at tokens[j] inside the `if` at tokens[start]."""
    depth = 0
    for t in tokens[start + 1:j]:
        depth += (t == "if") - (t == "fi")
    return depth
