"""Who may read the dashboard: anyone on this host when it listens on loopback only; elsewhere a token or a
user of a password file, or it does not start (`hamaster web` refuses an open non-loopback bind).

    token      a file holding one random word (`--token-file`): `Authorization: Bearer TOKEN`, or once in a
               browser `/?token=TOKEN`, which sets an HttpOnly, SameSite=Strict cookie and redirects to the
               address without it (so the token leaves the address bar and the history)
    users      a file of `name:scrypt$N$r$p$SALT$HASH` lines (`--users`; `hamaster web --hash-password` writes a
               line's hash): HTTP basic auth, checked with hashlib.scrypt and compared in constant time

Nothing here is ever logged or shown: a refusal says only that credentials are needed.
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hamaster.core.errors import ConfigError

COOKIE = "hamaster_token"
_N, _R, _P = 2**14, 8, 1  # scrypt's interactive parameters (16 MiB, ~50 ms)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)), maxmem=128 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


@dataclass
class Guard:
    token: str | None = None
    users: dict[str, str] = field(default_factory=dict)  # name -> scrypt hash
    _good: set[bytes] = field(default_factory=set)  # digests of Authorization headers already checked

    @property
    def open(self) -> bool:
        return self.token is None and not self.users

    @classmethod
    def from_files(cls, token_file: str | None, users_file: str | None) -> "Guard":
        token = None
        if token_file:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"--token-file {token_file}: {exc.strerror}") from None
            if len(token) < 16:
                raise ConfigError(f"--token-file {token_file}: the token must be at least 16 characters")
        users = {}
        if users_file:
            try:
                lines = Path(users_file).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"--users {users_file}: {exc.strerror}") from None
            for n, line in enumerate(lines, 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                name, sep, hashed = line.strip().partition(":")
                if not sep or not name or not hashed.startswith("scrypt$") or hashed.count("$") != 5:
                    raise ConfigError(f"--users {users_file}:{n}: expected name:scrypt$... "
                                      "(hamaster web --hash-password makes the hash)")
                users[name] = hashed
            if not users:
                raise ConfigError(f"--users {users_file}: no user in it")
        return cls(token, users)

    def allows(self, headers: dict[bytes, bytes], cookies: dict[str, str]) -> bool:
        if self.open:
            return True
        if self.token is not None and hmac.compare_digest(cookies.get(COOKIE, "").encode(), self.token.encode()):
            return True
        header = headers.get(b"authorization", b"")
        scheme, _, value = header.partition(b" ")
        if self.token is not None and scheme.lower() == b"bearer":
            return hmac.compare_digest(value.strip(), self.token.encode())
        if self.users and scheme.lower() == b"basic":
            seen = hashlib.sha256(header).digest()
            if seen in self._good:  # scrypt costs 50 ms: a browser sends the same header with every request
                return True
            try:
                name, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            hashed = self.users.get(name)
            if hashed is not None and check_password(password, hashed):
                self._good.add(seen)
                return True
        return False

    def token_in_query(self, query: dict[str, Any]) -> bool:
        given = query.get("token")
        return self.token is not None and isinstance(given, str) and hmac.compare_digest(
            given.encode(), self.token.encode())
