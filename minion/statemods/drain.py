"""keepalived.drain: write the value of keepalived's drain track_file (`hamaster drain` / `undrain`).

The state tree wires a `track_file hamaster_drain` (weight -W) into every vrrp_instance; keepalived watches
the file with inotify and adds value x weight to the priority at once, with no reload and no restart. So
`drained: true` writes 1 (the node's priority drops by W and the peer takes the VIPs over, nginx and keepalived
untouched), `drained: false` writes 0. The file's path comes from the node's own keepalived.conf (`name` is the
track_file's name), so the master needs to know no path. Written to a temporary file beside it, fsynced and
renamed over it: keepalived reads 0 or 1, never an empty file half-way.
"""

import os
import tempfile
from pathlib import Path

from hamaster.core.errors import HamasterError
from hamaster.minion.statemods import Ctx, Ret

DEFAULT_CONF = "/etc/keepalived/keepalived.conf"


def track_file_path(ctx: Ctx, name: str, conf: str) -> Path:
    """Where keepalived.conf (and its includes) says the track_file `name` lives, under the ctx's prefix."""
    from hamaster.core.keepalived_conf import parse

    path = ctx.path(conf)
    try:
        text = path.read_text()
    except OSError as exc:
        raise HamasterError(f"cannot read {conf}: {exc.strerror}") from None
    parsed = parse(text, root=ctx.prefix or Path("/"), here=str(Path(conf).parent))
    found = parsed.track_files.get(name)
    if found is None:
        raise HamasterError(f"{conf} has no track_file {name} (wire it with the state tree: pillar drain.enabled)")
    used = [i.name for i in parsed.instances.values() if name in i.tracked]
    if not used:
        raise HamasterError(f"{conf}: track_file {name} is tracked by no vrrp_instance")
    return ctx.path(found.path)


def drain(ctx: Ctx, name: str, drained: bool = True, conf: str = DEFAULT_CONF) -> Ret:
    try:
        path = track_file_path(ctx, name, conf)
    except HamasterError as exc:
        return Ret(False, str(exc))
    want = "1" if drained else "0"
    try:
        old = path.read_text().strip() if path.exists() else None
    except OSError as exc:
        return Ret(False, f"cannot read {path}: {exc.strerror}")
    word = "drained" if drained else "in service"
    if old == want:
        return Ret(True, f"{path} is already {want}: {word}")
    changes = {"drained": {"old": old not in (None, "0"), "new": drained}}
    if ctx.test:
        return Ret(None, f"{path} would be set to {want}: {word}", changes)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(want + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        return Ret(False, f"cannot write {path}: {exc.strerror}")
    return Ret(True, f"{path} set to {want}: {word} (keepalived adjusts the priority, no reload)", changes)
