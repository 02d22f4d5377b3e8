"""keepalived.readiness: this node's live view of its VRRP, for `hamaster check` (master/drills/live.py).

Read only, in test mode only: nothing is started, stopped, written or run (a check script's text is read,
never executed). Asks keepalived for its JSON dump twice, WINDOW_ADVERTS advert intervals apart (at most
MAX_WINDOW_S), and once for its data dump (`keepalived --signum=DATA`, SIGUSR1 on Debian), then reports:

    {"v": 1, "keepalived": "running" | "not running" | "hung" | "error", "pid": int | None,
     "window_s": float, "took_s": float, "errors": [str],
     "instances": {name: {"state", "priority", "base_priority", "advert_int", "vrid",
                          "advert_rcvd", "advert_sent", "auth_failures", "become_master"}},   # counter deltas
     "scripts": {name: {"status": "GOOD" | "BAD" | ..., "command", "weight", "instances": [...],
                        "text": str | None, "kind": "file" | "inline" | "program", "truncated": bool}},
     "doctor": [{"what", "fix"}]}                                 # `haminion doctor`'s failed checks

`auth_failures` adds keepalived 2.2's `auth_failure`, `authtype_mismatch` and `invalid_authtype` stats.
"hung": keepalived runs but its VRRP process wrote no dump within DUMP_TIMEOUT_S (stopped, or stuck). The
dumps hold the VRRP password (`auth_data`, "Password = "): only the fields above leave here, and every string
is masked with the password too, should a script's text carry it. Bounded: a few seconds, at most MAX_SCRIPTS
scripts of MAX_TEXT bytes each.
"""

import json
import os
import shlex
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from hamaster.core.errors import HamasterError, StateError
from hamaster.core.secrets import mask_data
from hamaster.minion import keepalived
from hamaster.minion.statemods import Ctx, Ret

REPORT_VERSION = 1
WINDOW_ADVERTS = 3
MIN_WINDOW_S, MAX_WINDOW_S = 0.5, 4.0
DUMP_TIMEOUT_S = 2.0
MAX_SCRIPTS, MAX_TEXT = 32, 4096
SHELLS = {"sh", "bash", "dash", "ash", "ksh", "zsh", "busybox"}
_AUTH_STATS = ("auth_failure", "authtype_mismatch", "invalid_authtype")


def readiness(ctx: Ctx, name: str, window_s: float | None = None) -> Ret:
    if not ctx.test:
        return Ret(False, "keepalived.readiness runs in test mode only (it reads the node, it changes nothing)")
    t0 = time.monotonic()
    report = probe(window_s)
    if ctx.minion is not None:
        report["doctor"] = doctor(ctx, report.get("pid"))
    report["took_s"] = round(time.monotonic() - t0, 3)
    secrets = report.pop("_secrets", [])
    found = len(report["instances"])
    return Ret(True, f"keepalived {report['keepalived']}: {found} instance(s), {len(report['scripts'])} script(s)"
               f" read over {report['window_s']:g} s", report=mask_data(report, secrets))


def probe(window_s: float | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"v": REPORT_VERSION, "keepalived": "not running", "pid": None, "window_s": 0.0,
                              "errors": [], "instances": {}, "scripts": {}, "_secrets": []}
    pid = keepalived.keepalived_pid()
    if pid is None:
        return report
    report["pid"] = pid
    try:
        first = raw_dump(pid)
    except StateError as exc:
        hung = "wrote no state dump" in str(exc)
        report["keepalived"] = "hung" if hung else "error"
        report["errors"].append(str(exc))
        return report
    report["keepalived"] = "running"
    report["_secrets"] = sorted({str(e["data"]["auth_data"]) for e in first if e.get("data", {}).get("auth_data")})
    adverts = [float(e["data"].get("adver_int") or 1) for e in first]
    wait = window_s if window_s is not None else WINDOW_ADVERTS * max(adverts, default=1.0)
    wait = min(max(wait, MIN_WINDOW_S), MAX_WINDOW_S)
    started = time.monotonic()
    try:
        report["scripts"] = scripts(pid)
    except StateError as exc:
        report["errors"].append(f"data dump: {exc}")
    time.sleep(max(0.0, wait - (time.monotonic() - started)))
    try:
        second = raw_dump(pid)
    except StateError as exc:
        report["keepalived"] = "hung" if "wrote no state dump" in str(exc) else "error"
        report["errors"].append(str(exc))
        return report
    report["window_s"] = round(time.monotonic() - started, 3)
    report["instances"] = deltas(first, second)
    return report


def raw_dump(pid: int) -> list[dict[str, Any]]:
    """keepalived.json as keepalived wrote it, vouched for by `keepalived.take_dump` (this keepalived's, after
    our signal, its instances its config's); read again for the stats that take_dump leaves out."""
    for _ in range(3):
        dump = keepalived.take_dump(pid, DUMP_TIMEOUT_S)
        try:
            text = dump.path.read_text()
            if dump.path.stat().st_mtime_ns == dump.written_ns:  # not rewritten since it was vouched for
                raw = json.loads(text)
                if isinstance(raw, list):
                    return raw
        except (OSError, ValueError):
            pass
    raise StateError(f"keepalived pid {pid}: its state dump changed under every read")


def deltas(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each instance's state (second dump) and its VRRP counters' growth between the two dumps."""
    before = {e["data"]["iname"]: e.get("stats", {}) for e in first}
    out = {}
    for entry in second:
        d, stats = entry["data"], entry.get("stats", {})
        was = before.get(d["iname"], {})

        def grew(*keys: str, stats: dict[str, Any] = stats, was: dict[str, Any] = was) -> int:
            return sum(int(stats.get(k, 0)) - int(was.get(k, stats.get(k, 0))) for k in keys)
        out[str(d["iname"])[:256]] = {
            "state": keepalived.parse_dump([entry])[d["iname"]].state,
            "priority": int(d.get("effective_priority", 0)), "base_priority": int(d.get("base_priority", 0)),
            "advert_int": float(d.get("adver_int") or 1), "vrid": int(d.get("vrid", -1)),
            "advert_rcvd": grew("advert_rcvd"), "advert_sent": grew("advert_sent"),
            "auth_failures": grew(*_AUTH_STATS), "become_master": grew("become_master"),
        }
    return out


def data_signal() -> int:
    """The signal keepalived writes keepalived.data on (SIGUSR1 on Debian's build; ask the binary)."""
    try:
        out = subprocess.run(["keepalived", "--signum=DATA"], capture_output=True, text=True, timeout=5).stdout
        return int(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        raise StateError("keepalived --signum=DATA gave no number") from None


def scripts(pid: int) -> dict[str, dict[str, Any]]:
    """The vrrp_scripts of keepalived's data dump: status, command, weight, the instances tracking each, and
    the script's text (read, not run)."""
    path = keepalived.tmpdir(pid) / "keepalived.data"
    signalled = time.clock_gettime_ns(keepalived._FILE_CLOCK)
    os.kill(pid, data_signal())
    deadline, seen = time.monotonic() + DUMP_TIMEOUT_S, None
    while time.monotonic() < deadline:
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is not None and st.st_mtime_ns >= signalled:
            now = (st.st_mtime_ns, st.st_size)
            if now == seen:  # written and quiet for a moment: keepalived is done with it
                return {name: dict(s, **script_text(pid, s["command"]))
                        for name, s in list(parse_scripts(path.read_text(errors="replace")).items())[:MAX_SCRIPTS]}
            seen = now
        time.sleep(0.05)
    raise StateError(f"keepalived pid {pid} wrote no data dump to {path} within {DUMP_TIMEOUT_S:g} s")


def parse_scripts(text: str) -> dict[str, dict[str, Any]]:
    """The `------< VRRP Scripts >------` section of keepalived.data -> {name: {status, command, weight,
    instances}}; nothing else of the dump (it holds the password) is read."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    inside, tracking = False, False
    for line in text.splitlines():
        if line.startswith("------<"):
            inside = line.strip() == "------< VRRP Scripts >------"
            current = None
            continue
        if not inside:
            continue
        key, _, value = line.strip().partition(" = ")
        if line.startswith(" VRRP Script = "):
            current = {"status": None, "command": "", "weight": 0, "instances": []}
            out[value.strip()[:256]] = current
            tracking = False
        elif current is None:
            continue
        elif line.strip() == "Tracking instances :":
            tracking = True
        elif tracking and line.startswith("     ") and "," in line:
            current["instances"].append(line.strip().split(",")[0])
        elif line.startswith("   ") and not line.startswith("    "):
            tracking = False
            if key == "Command":
                current["command"] = value[:MAX_TEXT]
            elif key == "Status":
                current["status"] = value.strip()
            elif key == "Weight":
                try:
                    current["weight"] = int(value.split()[0])
                except (ValueError, IndexError):
                    pass
    return out


def script_text(pid: int, command: str) -> dict[str, Any]:
    """What the script does, as text: the file it names (read through keepalived's root), the command of a
    `sh -c`, or the command line itself for a program."""
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = command.split()
    if not argv:
        return {"kind": "inline", "text": "", "truncated": False}
    prog = os.path.basename(argv[0])
    if prog in SHELLS and "-c" in argv[1:-1]:
        inline = argv[argv.index("-c") + 1]
        return {"kind": "inline", "text": inline[:MAX_TEXT], "truncated": len(inline) > MAX_TEXT}
    if prog in SHELLS and len(argv) > 1 and not argv[1].startswith("-"):
        argv = argv[1:]  # `sh /path/check.sh`: the file is the script
    if argv[0].startswith("/"):
        head = _read_head(Path(f"/proc/{pid}/root") / argv[0].lstrip("/"))
        if head and b"\0" not in head:  # a text file: a script
            return {"kind": "file", "text": head[:MAX_TEXT].decode(errors="replace"), "truncated": len(head) > MAX_TEXT}
        if head:
            return {"kind": "program", "text": " ".join(argv)[:MAX_TEXT], "truncated": False}
    return {"kind": "inline", "text": " ".join(shlex.quote(a) for a in argv)[:MAX_TEXT], "truncated": False}


def _read_head(path: Path) -> bytes:
    """The first MAX_TEXT + 1 bytes of a regular file; b"" for anything else. A FIFO, a socket or a device
    (`/dev/zero`, `/dev/watchdog`) is not opened: an open() of a FIFO waits for a writer, and the minion's one
    job thread would wait with it (no `apply` on the node until its restart). O_NONBLOCK covers a file swapped
    for a FIFO between the stat and the open."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return b""
    try:
        return os.read(fd, MAX_TEXT + 1) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


def doctor(ctx: Ctx, pid: int | None) -> list[dict[str, str]]:
    """`haminion doctor`'s failed checks, as it would print them on this node."""
    from hamaster.minion.doctor import run_checks

    assert ctx.minion is not None
    try:
        return [{"what": what, "fix": fix} for ok, what, fix in run_checks(ctx.minion, ctx.minion.keepalived_conf, pid)
                if not ok]
    except (OSError, HamasterError) as exc:
        return [{"what": f"haminion doctor could not run: {exc}", "fix": f"run `haminion doctor -c {ctx.minion.path}`"}]
