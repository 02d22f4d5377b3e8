"""A store password is never printed, whatever characters it holds: URL passwords are parsed (from the user's
':' to the last '@'), not pattern-matched, and a driver's error that quotes the URL is scrubbed too."""

import re
import subprocess
from pathlib import Path

import pytest
from sitelib import HAMASTER, Site, free_port

from hamaster.master.store.dialect import describe, scrub

PASSWORDS = ["S3cr#tpass", "pass/word/x", "who?knows=1", "100%sure%zz", "a@b@cdef", "colon:pass", "S3cr#t/w?rd%x@yz&q"]


def fragments(password: str) -> set[str]:
    """Every piece of the password of 4 or more characters: none may be printed."""
    return {password[i:j] for i in range(len(password)) for j in range(i + 4, len(password) + 1)}


@pytest.mark.parametrize("password", PASSWORDS)
def test_describe_masks_the_whole_password(password: str) -> None:
    url = f"postgresql://hm:{password}@db.example:5432/hamaster"
    assert describe(url) == "postgresql://hm:***@db.example:5432/hamaster"
    leak = f'invalid URI query parameter: "{password.split("?")[-1]}@db.example"'
    assert not fragments(password) & {w for w in re.split(r"\s", scrub(leak, url))}
    assert describe("/var/lib/hamaster/store.db") == "/var/lib/hamaster/store.db"


def set_store(site: Site, url: str) -> None:
    text = Path(site.config).read_text()
    lines = [line for line in text.splitlines() if not line.startswith("store:")]
    Path(site.config).write_text("\n".join([*lines, f"store: '{url}'"]) + "\n")


@pytest.mark.parametrize("password", PASSWORDS)
def test_no_command_prints_the_store_password(site: Site, password: str) -> None:
    set_store(site, f"postgresql://hm:{password}@127.0.0.1:{free_port()}/hamaster")  # nobody listens there
    for command in (["status"], ["timeline"], ["master"]):
        proc = subprocess.run([HAMASTER, *command, "-c", site.config], capture_output=True, text=True, timeout=60)
        said = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "Traceback" not in said, said
        assert "hm:***@127.0.0.1" in said, said
        assert not [f for f in fragments(password) if f in said], said
