"""`hamaster web` as a real process for the tests, and Debian's chromium driven by Playwright.

The browser is the system's (`apt-get install chromium`, scripts/setup): Playwright never downloads one
(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD, no `playwright install`). Each browser gets a fresh profile folder.
"""

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sitelib import HAMASTER, free_port, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class WebProcess:
    """`hamaster web -c CONFIG --bind 127.0.0.1:PORT [ARGS]`, stopped by pid at the end."""

    def __init__(self, config: str | Path, *args: str, host: str = "127.0.0.1", log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = log or Path(tempfile.mkdtemp(prefix="hamaster-web-")) / "web.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([HAMASTER, "web", "-c", str(config), "--bind", f"{host}:{self.port}", *args],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_up(self, headers: dict[str, str] | None = None, timeout: float = 30) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"hamaster web exited ({self.proc.returncode}): {self.log.read_text()}")
            try:
                return get(self.url + "/api/status", headers)[0] in (200, 401)
            except OSError:
                return False
        wait_for(up, timeout, "hamaster web to answer", interval=0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET; an HTTP error status is returned, not raised."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    status, _, body = get(url, headers)
    assert status == 200, (status, body[:300])
    return json.loads(body)


def chromium_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} missing (scripts/setup installs Debian's chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright missing (pip install -e '.[test]')"
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A Playwright browser context on Debian's chromium, with a fresh profile; closed afterwards."""
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="hamaster-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_FLAGS)
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
