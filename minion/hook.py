"""The keepalived hook: `haminion-hook -c minion.yaml TYPE NAME STATE [PRIORITY]` (or `haminion hook ...`).

keepalived spawns this on every transition (generic `notify` passes TYPE NAME STATE PRIORITY; with
`notify_master "haminion hook -c F --state MASTER --instance VI_1"` and friends the state comes as an
option). It must be fast, never hang, always exit 0, and be durable before it exits even when the minion
daemon is down. So it imports only os, sys and time, writes one line to a file in the spool's inbox
(write, fsync, rename, fsync the folder), pokes the daemon through a FIFO if one is listening, and exits.
The daemon gives the event its sequence number when it moves the file into the spool.

The event's time is when keepalived spawned this process (its start time in /proc), not when Python got
to `main` 20-80 ms later (see `spawn_time_ns`).

The hook reads only `spool_dir:` from minion.yaml, by a line scan (importing a YAML parser would double its
run time), and refuses what it cannot read exactly as YAML does (see `spool_dir_of`): keep that key a plain
one-line string. Default: `spool` beside minion.yaml.

Whatever stops it writing into the spool (a full disk, a config it refuses, a spool it may not write), the
event goes to the fallback spool, a folder per minion.yaml under /run/hamaster/hook-fallback (tmpfs: it has
room when the spool's disk is full, and is writable where keepalived runs as root), with the reason as a
note; the daemon takes it from there, and the reason travels with the event. A hook run as another user
(keepalived's script_user) cannot create folders in /run: its fallback spool is under a folder of its own,
/dev/shm/hamaster-UID (tmpfs too; /tmp without /dev/shm), made 0700 and used only while it is a real
folder (not a symlink) of that user, private to it: in a world-writable place someone else may have made
it first. A daemon run as the same user takes the events in, and `haminion doctor` says what waits there.
Only if both fail is the event lost, and stderr (keepalived's log) says so with the whole event.
"""

import os
import sys
import time

_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
_USAGE = "Usage: haminion hook -c minion.yaml TYPE NAME STATE [PRIORITY] | --state STATE --instance NAME"
FALLBACK_ROOT = "/run/hamaster/hook-fallback"  # $HAMINION_FALLBACK overrides it (tests, odd layouts)
_S_IFMT, _S_IFDIR = 0o170000, 0o040000  # (the stat module is one import more)

_YAML_NULLS = ("~", "null", "Null", "NULL")
_YAML_BOOLS = tuple(w for b in ("yes", "no", "true", "false", "on", "off") for w in (b, b.title(), b.upper()))
_YAML_SPECIAL = ("=", "<<")  # YAML 1.1's value and merge keys, which PyYAML resolves to tags of their own
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def private_root(uid: int | None = None) -> str | None:
    """The folder of a user other than root that holds its fallback spools (None for root: it uses /run)."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0 or os.environ.get("HAMINION_FALLBACK"):
        return None
    return os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else "/tmp", f"hamaster-{uid}")


def check_private(folder: str, create: bool = False) -> None:
    """Refuse (OSError) a folder that is not a real folder (lstat: a symlink is not) of this user, 0700.
    `create`: make it first if it is missing (mkdir does not follow a symlink in its last part)."""
    if create:
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
    st = os.lstat(folder)
    if st.st_mode & _S_IFMT != _S_IFDIR or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise OSError(f"{folder} is not a private folder of uid {os.geteuid()} (owner {st.st_uid},"
                      f" mode {st.st_mode & 0o7777:o}{', a symlink' if st.st_mode & _S_IFMT == 0o120000 else ''})")


def fallback_dir(config: str) -> str:
    """The fallback spool of one minion.yaml: hook and daemon derive it alike from the config's real path
    (and the user they run as)."""
    private = private_root()
    root = os.environ.get("HAMINION_FALLBACK") or (FALLBACK_ROOT if private is None else
                                                   os.path.join(private, "hook-fallback"))
    return os.path.join(root, os.path.realpath(config).strip("/").replace("/", "%"))


def _refuse(config: str, n: int, why: str) -> ValueError:
    return ValueError(f"{config}:{n}: {why} (the hook reads spool_dir: only as a plain one-line string)")


def _plain_value(config: str, n: int, value: str) -> str:
    """`value` as YAML reads a one-line scalar, if it is surely a string; else refuse."""
    if value[0] in "\"'":
        quote = value[0]
        end = value.find(quote, 1)
        rest = value[end + 1:].strip() if end > 0 else ""
        if end < 0 or "\\" in value[:end] or rest[:1] not in ("", "#") or value[end + 1:end + 2] == quote:
            raise _refuse(config, n, "a quoted value with escapes or more than one line")
        return value[1:end]
    value = value.split(" #", 1)[0].split("\t#", 1)[0].strip()
    if value[0] in "!&*|>[]{},@`%#" or value[:2] in ("- ", "? ", ": ") or value in ("-", "?", ":"):
        raise _refuse(config, n, f"{value[0]!r} starts a YAML tag, anchor, block or flow here")
    if ": " in value or value in _YAML_NULLS or value in _YAML_BOOLS or value in _YAML_SPECIAL or \
            value.lower().lstrip("+-") in (".inf", ".nan"):
        raise _refuse(config, n, f"YAML does not read {value!r} as a folder name")
    if "/" not in value and (value[0].isdigit() or (value[0] in "+-." and value[1:2].isdigit())):
        raise _refuse(config, n, f"YAML may read {value!r} as a number or a date: quote it")
    return value


def spool_dir_of(config: str) -> str:
    """The spool named by minion.yaml, read the way the daemon's YAML parser reads it, or ValueError.

    The top level must be a plain block mapping: every line at column 0 is `key: ...` with a plain key, and
    `spool_dir` appears once with its value on its own line. What YAML could read otherwise (a quoted or
    complex key, a duplicate, `~`, a tag, an anchor, a value on or continued onto the next line, a number)
    is refused rather than guessed. A config that cannot be read at all is an error, never a guessed folder."""
    base = os.path.dirname(os.path.abspath(config))
    with open(config, "rb") as f:
        raw = f.read()
    try:
        lines = raw.decode("utf-8").removeprefix("\ufeff").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{config}: not UTF-8") from None
    found: tuple[int, str] | None = None
    seen_key = False
    previous = 0  # the last line with content
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not seen_key:
                raise _refuse(config, n, "the top level is indented")
            if found is not None and found[0] == previous:
                raise _refuse(config, previous, "spool_dir's value goes on onto the next line")
            previous = n
            continue
        previous = n
        if line.rstrip() == "---" and not seen_key:
            continue
        key, colon, value = line.partition(":")
        if not colon or not key or not set(key) <= _KEY_CHARS or value[:1] not in ("", " ", "\t"):
            raise _refuse(config, n, "not a plain `key: value` line at the top level")
        value = value.strip()
        if value[:1] in ("[", "{", '"', "'") and not _closed(value):
            raise _refuse(config, n, "a flow or quoted value that goes on past its line")
        seen_key = True
        if key == "spool_dir":
            if found is not None:
                raise _refuse(config, n, f"spool_dir given twice (lines {found[0]} and {n})")
            if not value or value.startswith("#"):
                raise _refuse(config, n, "spool_dir has no value on its line")
            found = (n, _plain_value(config, n, value))
    if found is None:
        return os.path.join(base, "spool")
    return found[1] if os.path.isabs(found[1]) else os.path.join(base, found[1])


def _closed(value: str) -> bool:
    """Whether a flow or quoted value ends on its own line (brackets balanced outside quotes, quotes closed)."""
    depth, quote = 0, ""
    for c in value:
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "#" and depth == 0:
            break
    return not quote and depth <= 0


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    """-> (config path, [TYPE, NAME, STATE, PRIORITY])"""
    config = os.environ.get("HAMINION_CONFIG", "/etc/hamaster/minion.yaml")
    state = instance = None
    vtype, prio = "INSTANCE", "-"
    pos: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("-c", "--config"):
            config = next(it)
        elif a == "--state":
            state = next(it).upper()
        elif a == "--instance":
            instance = next(it)
        elif a == "--group":
            instance, vtype = next(it), "GROUP"
        elif a == "--priority":
            prio = next(it)
        else:
            pos.append(a)
    if pos:
        if len(pos) not in (3, 4):
            raise ValueError(_USAGE)
        vtype, instance, state = pos[0].upper(), pos[1], pos[2].upper()
        prio = pos[3] if len(pos) == 4 else "-"
    if not instance or state not in _STATES or vtype not in ("INSTANCE", "GROUP"):
        raise ValueError(_USAGE)
    if prio != "-" and not (prio.isdigit() and int(prio) <= 255):
        raise ValueError(f"priority must be 0..255, got {prio!r}")
    if any(c in instance for c in "\t\n/") or len(instance) > 200:
        raise ValueError(f"bad instance name {instance!r}")
    return config, [vtype, instance, state, prio]


def spawn_time_ns(source: str = "spawn") -> tuple[int, str]:
    """When keepalived spawned this process, in ns since the epoch, and which clock said so.

    /proc/self/stat field 22 is the fork's moment in clock ticks since boot (10 ms: it says only in which
    tick); /proc/self/schedstat says how long the process has run and waited to run since then, so
    `now - (run + wait)` is the latest moment the fork can have been (exact when the process has not slept,
    as a starting Python seldom does). The estimate is that, kept inside the tick: never before the fork,
    at most a tick after it when the process slept. Both are on CLOCK_BOOTTIME, carried over to the epoch
    by reading both clocks now. Measured (bench/hook.py): p99 0.3-3 ms from the fork, against 4.7 ms for
    the tick's middle alone and 125-300 ms for the time Python reaches main. /proc/self's mtime is no
    help: it is when its inode was first looked up, on the coarse clock. Without /proc: the time now,
    noted `clock=main` in the event."""
    now = time.time_ns()
    if source == "main":
        return now, "main"
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        with open("/proc/self/schedstat", "rb") as f:  # before the clocks: run+wait must not outgrow "now"
            run_ns, wait_ns = f.read().split()[:2]
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        now = time.time_ns()
        boot = (boot + time.clock_gettime_ns(time.CLOCK_BOOTTIME)) // 2  # the moment `now` was read
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        earliest = int(stat[stat.rindex(b")") + 2:].split()[19]) * tick_ns  # field 22, the fork's tick
        if source == "ticks":
            return now - (boot - earliest - tick_ns // 2), "ticks"
        # never before the fork, so never before what keepalived did first (its FIFO line): the upper bound
        latest = min(max(boot - int(run_ns) - int(wait_ns), earliest), earliest + tick_ns)
        return now - (boot - latest), "spawn"
    except (OSError, ValueError, IndexError):
        return time.time_ns(), "main"


def write_event(spool: str, fields: list[str], node_ns: int, source: str = "hook", notes: tuple[str, ...] = (),
                unique: str = "") -> str:
    """One event file in `spool`/inbox, durable when this returns; a version-2 line when it carries notes.
    `unique` tells apart the files of one process stamped alike (the daemon's, of one FIFO read)."""
    inbox = os.path.join(spool, "inbox")
    os.makedirs(inbox, exist_ok=True)
    name = f"{node_ns}-{os.getpid()}{unique}"
    tmp, final = os.path.join(inbox, "." + name), os.path.join(inbox, name + ".ev")
    line = "\t".join(["2" if notes else "1", str(node_ns), *fields, source, *notes]) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)  # a full disk leaves no half-written file behind
        raise
    os.close(fd)
    os.rename(tmp, final)
    dfd = os.open(inbox, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


def wake_daemon(spool: str) -> None:
    try:  # non-blocking: fails at once with ENXIO when no daemon reads the FIFO
        fd = os.open(os.path.join(spool, "wake"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return " ".join(text.split())[:300]  # one line, no tabs: it travels as a note in the event line


def main(argv: list[str]) -> int:
    node_ns, clock = spawn_time_ns(os.environ.get("HAMINION_HOOK_CLOCK", "spawn"))  # main|ticks: bench/hook.py
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(f"{_USAGE}\n{__doc__}")
        return 0
    try:
        config, fields = parse_args(argv)
    except (ValueError, StopIteration) as exc:  # nothing to keep: keepalived called us wrongly
        sys.stderr.write(f"haminion hook: {exc or _USAGE}\n")
        return 0
    notes = () if clock == "spawn" else (f"clock={clock}",)
    spool = None
    try:  # never fail keepalived: say why on stderr (keepalived logs it) and exit 0
        spool = spool_dir_of(config)
        write_event(spool, fields, node_ns, notes=notes)
        wake_daemon(spool)
        return 0
    except Exception as exc:
        why = _why(exc)
    fallback = fallback_dir(config)
    try:
        private = private_root()
        if private is not None:
            check_private(private, create=True)
        write_event(fallback, fields, node_ns, notes=(*notes, f"fallback={why}"))
        sys.stderr.write(f"haminion hook: {why}; the event is kept in the fallback spool {fallback}\n")
        if spool is not None:
            wake_daemon(spool)  # the daemon looks at the fallback spool when woken, and every second
    except Exception as exc:
        sys.stderr.write(f"haminion hook: {why}; and the fallback spool {fallback}: {_why(exc)};"
                         f" EVENT LOST: {' '.join(fields)} at {node_ns}\n")
    return 0
