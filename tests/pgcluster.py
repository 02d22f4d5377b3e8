"""A throw-away PostgreSQL server for the tests: Debian's binaries, our own cluster in a temp dir, on a free
port of 127.0.0.1, run as the `postgres` user, stopped (by its pid file) and removed after the session.
Each test gets a database of its own in it: `pg_url`. The conftests of tests/pg and tests/store import these
fixtures (a conftest's fixtures reach only its own folder).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitelib import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a running server; skip when psycopg, the binaries or the postgres user are missing."""
    pytest.importorskip("psycopg", reason="the postgresql extra is not installed: pip install -e '.[test]'")
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL at {PG_BIN} (scripts/setup installs Debian's postgresql)")
    if os.geteuid() != 0:
        pytest.skip("starting a PostgreSQL cluster as the postgres user needs root")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user (scripts/setup installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="hamaster-pg-"))
    os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()
    try:
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--no-sync")
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "30",
                     "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"
