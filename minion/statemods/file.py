"""file.managed, file.directory, file.absent.

file.managed writes the new text to a temporary file beside the target, runs `check_cmd` on it (`{}` is
its path: `keepalived -t -f {}`, `nginx -t -c {}`), sets mode and owner, and renames it over the target:
readers see the old file or the new one, never half of one, and a failed check leaves the old file alone.
"""

import difflib
import grp
import os
import pwd
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hamaster.minion.statemods import Ctx, Ret, run


def managed(ctx: Ctx, name: str, contents: str | None = None, source: str | None = None, mode: Any = None,
            user: str | None = None, group: str | None = None, makedirs: bool = False,
            check_cmd: str | None = None, show_changes: bool = True) -> Ret:
    path = ctx.path(name)
    new = (contents or "").encode()
    if path.is_dir():
        return Ret(False, f"{name} is a directory")
    if not path.parent.is_dir() and not makedirs:
        return Ret(False, f"parent directory {path.parent} does not exist (set makedirs: true)")
    try:
        want = _wanted_attrs(mode, user, group)
    except ValueError as exc:
        return Ret(False, str(exc))
    old = path.read_bytes() if path.is_file() else None
    changes: dict[str, Any] = {}
    if old != new:
        changes["diff"] = _diff(old, new, name) if show_changes else "<show_changes=False>"
    changes.update(_attr_changes(path if old is not None else None, want))
    if not changes:
        return Ret(True, f"File {name} is in the correct state")
    if ctx.test and "diff" not in changes:
        return Ret(None, f"File {name} is set to have its mode or owner changed", changes)

    if not ctx.test:
        path.parent.mkdir(parents=True, exist_ok=True)
    if "diff" not in changes:  # only mode or owner differ
        _apply_attrs(path, want)
        return Ret(True, f"Updated mode or owner of {name}", changes)
    # In test mode the check runs on a copy in the temp dir: it tells about a bad config without touching /etc.
    folder = path.parent if path.parent.is_dir() and not ctx.test else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        if check_cmd:
            done = run(check_cmd.replace("{}", shlex.quote(tmp)))
            if not done.ok:
                return Ret(False, f"check_cmd failed (exit {done.code}), {name} left as it was:\n{done.tail()}",
                           changes)
        if ctx.test:
            return Ret(None, f"File {name} is set to be {'changed' if old is not None else 'created'}", changes)
        _apply_attrs(Path(tmp), want, default_mode=_mode_of(path) if old is not None else 0o644)
        os.replace(tmp, path)
        tmp = ""
    finally:
        if tmp:
            os.unlink(tmp)
    return Ret(True, f"File {name} {'updated' if old is not None else 'created'}", changes)


def directory(ctx: Ctx, name: str, mode: Any = None, user: str | None = None, group: str | None = None,
              makedirs: bool = False) -> Ret:
    path = ctx.path(name)
    try:
        want = _wanted_attrs(mode, user, group)
    except ValueError as exc:
        return Ret(False, str(exc))
    if path.exists() and not path.is_dir():
        return Ret(False, f"{name} exists and is not a directory")
    if not path.exists():
        if not path.parent.is_dir() and not makedirs:
            return Ret(False, f"parent directory {path.parent} does not exist (set makedirs: true)")
        changes = {name: "New Dir", **{k: v["new"] for k, v in _attr_changes(None, want).items()}}
        if ctx.test:
            return Ret(None, f"Directory {name} is set to be created", changes)
        path.mkdir(parents=True)
        _apply_attrs(path, want, default_mode=0o755)
        return Ret(True, f"Directory {name} created", changes)
    changes = _attr_changes(path, want)
    if not changes:
        return Ret(True, f"Directory {name} is in the correct state")
    if ctx.test:
        return Ret(None, f"Directory {name} is set to have its mode or owner changed", changes)
    _apply_attrs(path, want)
    return Ret(True, f"Updated mode or owner of directory {name}", changes)


def absent(ctx: Ctx, name: str) -> Ret:
    path = ctx.path(name)
    if not path.exists() and not path.is_symlink():
        return Ret(True, f"File {name} is not present")
    if ctx.test:
        return Ret(None, f"File {name} is set to be removed", {"removed": name})
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return Ret(True, f"Removed {name}", {"removed": name})


# -- helpers -------------------------------------------------------------------------------------------------
def parse_mode(mode: Any) -> int | None:
    """'0644', '644' and 644 all mean rw-r--r-- (the SLS loader reads 0644 as 644, see master/render.py)."""
    if mode is None:
        return None
    text = str(mode)
    if isinstance(mode, bool) or not text.isdigit() or not set(text) <= set("01234567") or int(text, 8) > 0o7777:
        raise ValueError(f"mode {mode!r} is not an octal file mode like '0644'")
    return int(text, 8)


def _wanted_attrs(mode: Any, user: str | None, group: str | None) -> dict[str, Any]:
    want: dict[str, Any] = {}
    if mode is not None:
        want["mode"] = parse_mode(mode)
    for key, value, db in (("user", user, pwd.getpwnam), ("group", group, grp.getgrnam)):
        if value is not None:
            try:
                db(str(value))
            except KeyError:
                raise ValueError(f"{key} {value!r} does not exist on this node") from None
            want[key] = str(value)
    return want


def _mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def _attr_changes(path: Path | None, want: dict[str, Any]) -> dict[str, Any]:
    """{attr: {old, new}} for what differs (or all wanted attrs of a file that does not exist yet)."""
    out: dict[str, Any] = {}
    st = path.stat() if path is not None else None
    for key, new in want.items():
        if key == "mode":
            old = f"{st.st_mode & 0o7777:04o}" if st else None
            new = f"{new:04o}"
        elif key == "user":
            old = _name(pwd.getpwuid, st.st_uid) if st else None
        else:
            old = _name(grp.getgrgid, st.st_gid) if st else None
        if old != new:
            out[key] = {"old": old, "new": new}
    return out


def _name(lookup: Any, num: int) -> str:
    try:
        return lookup(num)[0]
    except KeyError:
        return str(num)


def _apply_attrs(path: Path, want: dict[str, Any], default_mode: int | None = None) -> None:
    mode = want.get("mode", default_mode)
    if mode is not None:
        os.chmod(path, mode)
    if "user" in want or "group" in want:
        user: Any = want.get("user")  # None with a group alone: chown leaves the owner as it is
        shutil.chown(path, user, want.get("group"))


def _diff(old: bytes | None, new: bytes, name: str) -> str:
    if old is None:
        return "New file"
    try:
        a, b = old.decode().splitlines(keepends=True), new.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        return "Replace binary file"
    return "".join(difflib.unified_diff(a, b, f"{name} (old)", f"{name} (new)", n=2)).rstrip("\n")
