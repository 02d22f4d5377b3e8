"""Group `salt`: hamaster beside Salt on the same work, from the same run.

Salt comes from PyPI into its own virtual environment under the cache dir (never a dependency of hamaster).
Salt's sdist declares no dependencies of its own, so they are installed from the lock file it ships for
Python 3.11 on Linux (requirements/static/pkg/py3.11/linux.txt). A salt-master and two salt-minions
run on 127.0.0.1 (their own ports, every folder under a temp root); hamaster runs a master and two real
`haminion run` processes (tests/sitelib.Site). Both get the same state tree: two file.managed, under
a per-minion folder. Every figure is the median of RUNS whole CLI processes:

    apply_changes_{hamaster,salt}_s     the two files missing on both minions: they are written
    apply_nochange_{hamaster,salt}_s    nothing to do
    apply_test_{hamaster,salt}_s        test mode, the files missing: changes predicted, nothing written
    event_{hook,salt_call}_s            one event from a node: `haminion-hook` / `salt-call event.send`
    apply_vs_salt_ratio                 hamaster / Salt, no-change case (below 1: hamaster is faster)
    apply_changes_vs_salt_ratio, apply_test_vs_salt_ratio, event_vs_salt_call_ratio
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import HAMASTER, HOOK, Site, emit, free_port, sized, wait_for

SALT_VERSION = "3007.8"  # installs on Python 3.11 from PyPI (its lock file pins tornado, pyzmq 25 ...)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hamaster-bench"
RUNS = sized(5, 1)
MINIONS = ("node1", "node2")
SLS = """\
motd:
  file.managed:
    - name: {root}/etc/motd.d/hamaster
    - makedirs: true
    - contents: "managed for {{{{ grains['id'] }}}}"
nginx_site:
  file.managed:
    - name: {root}/etc/nginx/conf.d/site.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        server {{
            listen 80;
            server_name {{{{ grains['id'] }}}};
            root /var/www/html;
        }}
"""


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


# -- Salt's own environment -------------------------------------------------------------------------
def salt_venv() -> Path:
    """A venv holding Salt SALT_VERSION, made once under CACHE; its bin folder."""
    venv = CACHE / f"salt-{SALT_VERSION}"
    stamp = venv / ".installed"
    if stamp.exists():
        return venv / "bin"
    say(f"installing Salt {SALT_VERSION} into {venv} (once)")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix="salt-sdist-") as dl:
        subprocess.run([*pip, "download", "--no-deps", "--no-binary", ":all:", "-d", dl, f"salt=={SALT_VERSION}"],
                       check=True, timeout=300)
        lock = f"salt-{SALT_VERSION}/requirements/static/pkg/py3.11/linux.txt"
        with tarfile.open(next(Path(dl).glob("salt-*.tar.gz"))) as tar:
            tar.extract(lock, dl, filter="data")
        subprocess.run([*pip, "install", "-r", str(Path(dl) / lock), str(next(Path(dl).glob("salt-*.tar.gz")))],
                       check=True, timeout=900)
    stamp.write_text(SALT_VERSION + "\n")
    return venv / "bin"


class SaltSite:
    """A salt-master and its minions on 127.0.0.1, every path under `root`; stops what it started."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root, self.bin = root, bin_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        publish, ret = free_port(), free_port()
        user = _user()
        common = f"user: {user}\nlog_level_logfile: warning\nlog_level: warning\n"
        (root / "master").mkdir(parents=True)
        (root / "master" / "master").write_text(
            f"root_dir: {root}/master\ninterface: 127.0.0.1\npublish_port: {publish}\nret_port: {ret}\n"
            f"auto_accept: true\nfile_roots:\n  base: [{root}/states]\npillar_roots:\n  base: [{root}/pillar]\n"
            + common)
        for m in MINIONS:
            (root / m).mkdir()
            (root / m / "minion").write_text(
                f"id: {m}\nroot_dir: {root}/{m}\nmaster: 127.0.0.1\nmaster_port: {ret}\npublish_port: {publish}\n"
                f"acceptance_wait_time: 1\n" + common)

    def _spawn(self, argv: list[str], log: str) -> None:
        with open(self.root / log, "ab") as f:
            self.procs.append(subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True))  # its own group: its workers go with it

    def start(self) -> None:
        self._spawn([str(self.bin / "salt-master"), "-c", str(self.root / "master")], "salt-master.log")
        for m in MINIONS:
            self._spawn([str(self.bin / "salt-minion"), "-c", str(self.root / m)], f"salt-minion-{m}.log")
        wait_for(self._all_answer, 90, "both salt-minions to answer test.ping")

    def _all_answer(self) -> bool:
        proc = self.salt("test.ping", "--out=txt", "-t", "5", check=False)
        return all(f"{m}: True" in proc.stdout for m in MINIONS)

    def salt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / "salt"), "-c", str(self.root / "master"), "--no-color", "*", *args], check)

    def salt_call(self, minion: str, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / "salt-call"), "-c", str(self.root / minion), *args], True)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            try:  # workers the daemon forked into the group we made for it
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _run(argv: list[str], check: bool) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")
    return proc


# -- measuring --------------------------------------------------------------------------------------
def median_s(run: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    """Median wall time of RUNS calls of `run` (after one warm-up), `before` untimed each time."""
    times = []
    for i in range(RUNS + 1):
        before()
        t0 = time.perf_counter()
        run()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_tree(folder: Path, root_of: str) -> None:
    (folder / "states").mkdir(parents=True)
    (folder / "pillar").mkdir()
    (folder / "states" / "top.sls").write_text("base:\n  '*':\n    - bench\n")
    (folder / "states" / "bench.sls").write_text(SLS.format(root=root_of))
    (folder / "pillar" / "top.sls").write_text("base: {}\n")


def main() -> None:
    bin_dir = salt_venv()
    with tempfile.TemporaryDirectory(prefix="hamaster-salt-") as tmp:
        tmp_path = Path(tmp)
        fs = tmp_path / "fs"  # both tools write under fs/<tool>/<minion>/

        def wipe(tool: str) -> Callable[[], None]:
            return lambda: shutil.rmtree(fs / tool, ignore_errors=True)

        site = Site(tmp_path / "ha", minions=MINIONS)
        write_tree(site.root, "")  # hamaster's minions put a per-minion prefix in front
        for m in MINIONS:
            with open(site.minion_config(m), "a") as f:
                f.write(f"file_root_prefix: {fs}/hamaster/{m}\n")
        salt = SaltSite(tmp_path / "salt", bin_dir)
        write_tree(salt.root, f"{fs}/salt/{{{{ grains['id'] }}}}")
        try:
            site.start_master()
            for m in MINIONS:
                site.start_minion(m)
            wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == 2, 30,
                     "both haminions' hello")
            salt.start()
            ha = [HAMASTER, "apply", str(site.root / "states"), "-c", site.config,
                  "--pillar", str(site.root / "pillar")]

            def hamaster_apply(*extra: str, changed: int | None = None) -> Callable[[], object]:
                return lambda: _expect(_run([*ha, *extra], check=True), changed)

            def salt_apply(*extra: str, changed: int | None = None) -> Callable[[], object]:
                return lambda: _expect(salt.salt("state.apply", *extra, check=False), changed, salt=True)

            figures = {
                "apply_changes_hamaster_s": median_s(hamaster_apply(changed=2), wipe("hamaster")),
                "apply_changes_salt_s": median_s(salt_apply(changed=2), wipe("salt")),
                "apply_nochange_hamaster_s": median_s(hamaster_apply(changed=0)),
                "apply_nochange_salt_s": median_s(salt_apply(changed=0)),
                "apply_test_hamaster_s": median_s(hamaster_apply("--test"), wipe("hamaster")),
                "apply_test_salt_s": median_s(salt_apply("test=True"), wipe("salt")),
                "event_hook_s": median_s(lambda: _run([HOOK, "-c", site.minion_config("node1"),
                                                       "INSTANCE", "VI_1", "BACKUP", "100"], check=True)),
                "event_salt_call_s": median_s(lambda: salt.salt_call(
                    "node1", "event.send", "hamaster/bench/vrrp", '{"instance": "VI_1", "state": "BACKUP"}')),
            }
            for name, value in figures.items():
                emit(name, value, "s")
            f = figures
            emit("apply_vs_salt_ratio", f["apply_nochange_hamaster_s"] / f["apply_nochange_salt_s"], "ratio")
            emit("apply_changes_vs_salt_ratio", f["apply_changes_hamaster_s"] / f["apply_changes_salt_s"], "ratio")
            emit("apply_test_vs_salt_ratio", f["apply_test_hamaster_s"] / f["apply_test_salt_s"], "ratio")
            emit("event_vs_salt_call_ratio", f["event_hook_s"] / f["event_salt_call_s"], "ratio")
        finally:
            salt.close()
            site.close()


def _expect(proc: subprocess.CompletedProcess[str], changed: int | None, salt: bool = False) -> None:
    """A run that missed a minion, failed a state or did not do the work asked would make a meaningless
    figure: both tools print `Succeeded: N (changed=M)` per minion (Salt leaves out `changed=0`)."""
    want = "Succeeded: 2" + ("" if changed is None or (salt and not changed) else f" (changed={changed})")
    wrong = proc.stdout.count(want) != len(MINIONS) or (salt and changed == 0 and "changed=" in proc.stdout)
    if proc.returncode != 0 or wrong:
        raise SystemExit(f"apply: expected `{want}` for each minion, exit 0; got exit {proc.returncode}:\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-1000:]}")


if __name__ == "__main__":
    main()
