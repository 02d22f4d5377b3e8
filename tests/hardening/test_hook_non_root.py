"""A hook that keepalived runs as another user (script_user) cannot make /run/hamaster: its fallback spool is
a private folder of its own (/dev/shm/hamaster-UID, 0700, refused when someone else made it or it is a
symlink), and `haminion doctor` run as that user says what waits there. A real user, made and removed here."""

import os
import pwd
import shutil
import site as pysite
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitelib import Site

# the venv's interpreter lives under /root (0700): the user runs Debian's python3.11 on the venv's packages
RUN = ("import site, sys; site.addsitedir({sp!r}); from hamaster.minion.entry import main; sys.exit(main())")
SITE_PACKAGES = next(p for p in pysite.getsitepackages() if p.startswith(sys.prefix))


@pytest.fixture
def user() -> Iterator[pwd.struct_passwd]:
    if os.geteuid() != 0 or not shutil.which("useradd") or not Path("/usr/bin/python3.11").exists():
        pytest.skip("needs root, useradd and Debian's python3.11")
    name = f"hm{uuid.uuid4().hex[:10]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    entry = pwd.getpwnam(name)
    try:
        yield entry
    finally:
        private = Path(f"/dev/shm/hamaster-{entry.pw_uid}")
        if private.is_symlink():
            private.unlink()
        else:
            shutil.rmtree(private, ignore_errors=True)
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


@pytest.fixture
def node(site: Site) -> Iterator[Path]:
    """node1's folder where any user may read it, its spool writable by root only (the hook cannot use it)."""
    folder = Path(tempfile.mkdtemp(prefix="hamaster-nonroot-"))
    try:
        shutil.copytree(site.root / "minions" / "node1", folder / "node1")
        config = folder / "node1" / "minion.yaml"
        lines = [line for line in config.read_text().splitlines() if not line.startswith("spool_dir:")]
        config.write_text("\n".join([*lines, f"spool_dir: {folder / 'spool'}", ""]))
        (folder / "spool").mkdir(mode=0o755)
        for path in (folder, folder / "node1", config):
            path.chmod(0o755)
        yield config
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_user(user: pwd.struct_passwd, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HAMINION_FALLBACK"}  # the real places, not the tests'
    return subprocess.run(["runuser", "-u", user.pw_name, "--", "/usr/bin/python3.11", "-c",
                           RUN.format(sp=SITE_PACKAGES), *argv], capture_output=True, text=True, timeout=60,
                          env=env, cwd="/")


def test_a_non_root_hook_keeps_its_event_in_a_private_folder_and_doctor_reports_it(
        user: pwd.struct_passwd, node: Path) -> None:
    private = Path(f"/dev/shm/hamaster-{user.pw_uid}")
    hook = as_user(user, "hook", "-c", str(node), "INSTANCE", "VI_1", "MASTER", "100")
    assert hook.returncode == 0
    assert f"the event is kept in the fallback spool {private}/hook-fallback/" in hook.stderr, hook.stderr
    st = private.lstat()
    assert (st.st_uid, st.st_mode & 0o7777) == (user.pw_uid, 0o700)
    (event,) = private.glob("hook-fallback/*/inbox/*.ev")
    assert "\tVI_1\tMASTER\t100\t" in event.read_text()
    assert "fallback=Permission denied" in event.read_text()  # why it is there: the spool is root's
    assert list((node.parent.parent / "spool").iterdir()) == []

    doctor = as_user(user, "doctor", "-c", str(node))
    assert f"1 hook event(s) wait in the fallback spool {private}/hook-fallback/" in doctor.stdout, \
        doctor.stdout + doctor.stderr
    assert "Traceback" not in doctor.stderr


def test_a_private_folder_someone_else_made_or_a_symlink_is_not_used(user: pwd.struct_passwd, node: Path,
                                                                     tmp_path: Path) -> None:
    private = Path(f"/dev/shm/hamaster-{user.pw_uid}")
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    private.symlink_to(target)  # made first by another user (root here), pointing where it likes
    hook = as_user(user, "hook", "-c", str(node), "INSTANCE", "VI_1", "BACKUP", "100")
    assert hook.returncode == 0
    assert "is not a private folder" in hook.stderr and "EVENT LOST: INSTANCE VI_1 BACKUP 100" in hook.stderr, \
        hook.stderr
    assert list(target.iterdir()) == []
    doctor = as_user(user, "doctor", "-c", str(node))
    assert "the hook's fallback folder is not used" in doctor.stdout, doctor.stdout + doctor.stderr

    private.unlink()
    private.mkdir(mode=0o700)  # a real folder, but root's
    hook = as_user(user, "hook", "-c", str(node), "INSTANCE", "VI_1", "BACKUP", "100")
    assert "is not a private folder" in hook.stderr and "owner 0" in hook.stderr, hook.stderr
