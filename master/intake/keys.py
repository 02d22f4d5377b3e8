"""Minion keys, salt-key style, and the ZAP handler that admits accepted keys only.

Layout under the master's pki_dir:

    master.key / master.key_secret     the master's CURVE certificate (pyzmq's ZPL certificate files)
    minions/accepted/<id>.key          public certificates of accepted minions: the file name is the minion id
    minions/pending/<fp>.key           keys that tried to connect and were refused, named by fingerprint
    minions/rejected/<name>.key        keys refused on purpose

A CURVE handshake carries no name we could trust before the key is accepted, so a pending key is named by
its fingerprint and the operator gives it its minion id when accepting it. After that the id comes from
the key alone: whatever a payload claims is ignored.

The ZeroMQ User-Id of a connection is its public key, so the intake checks every frame against the keyring
as it is now: a key rejected or deleted while its connection is open is refused from the next frame on.
Unknown keys leave at most MAX_PENDING files, at most PENDING_BURST at once and PENDING_PER_MIN a minute
after that; the rest are refused without a file (counted and logged once per interval, see refusals.py).
"""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from hamaster.core.errors import ConfigError
from hamaster.core.protocol import fingerprint

STATUSES = ("accepted", "pending", "rejected")
ZAP_DOMAIN = "hamaster"
MAX_PENDING = 100
PENDING_BURST = 10
PENDING_PER_MIN = 30
SETTLE_NS = 1_000_000_000  # a folder changed this recently may change again within its mtime's resolution
REFUSALS = {  # KeyRing.record_pending's outcome -> (reason counted, what the log says)
    "known": ("refused_key", "a rejected or pending key"),
    "pending": ("unknown_key", "unknown key, now pending"),
    "cap": ("pending_cap", f"unknown key, not kept: {MAX_PENDING} keys are pending"),
    "rate": ("pending_rate", "unknown key, not kept: too many new keys this minute"),
}


def valid_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".") and len(name) <= 128


@dataclass(frozen=True)
class KeyEntry:
    name: str
    status: str
    public_key: str
    fingerprint: str
    mtime: float


def master_certificate(pki_dir: Path, where: object) -> tuple[bytes, bytes]:
    """The master's CURVE key pair (public, secret), or a ConfigError that says which file is wrong."""
    secret_file = pki_dir / "master.key_secret"
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: master key {secret_file}: {exc} (run `hamaster init`)") from None
    if secret is None:
        raise ConfigError(f"{where}: master key {secret_file}: no secret key in it (run `hamaster init`)")
    return public, secret


def make_certificate(directory: Path, name: str) -> tuple[str, str]:
    """Write name.key and name.key_secret (mode 0600) and return (public, secret) as Z85 text."""
    directory.mkdir(parents=True, exist_ok=True)
    _, secret_file = zmq.auth.create_certificates(directory, name)
    os.chmod(secret_file, 0o600)
    public, secret = zmq.auth.load_certificate(secret_file)
    return public.decode(), secret.decode()  # type: ignore[union-attr]


class KeyRing:
    """The accepted/pending/rejected key folders, re-read when they change on disk (cheap stat per lookup)."""

    def __init__(self, pki_dir: Path) -> None:
        self.root = pki_dir / "minions"
        for status in STATUSES:
            (self.root / status).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] = ()
        self._read_at = 0.0  # monotonic
        self._unsettled = False
        self._accepted: dict[str, str] = {}  # public key (z85) -> minion id
        self._known: set[str] = set()  # every key in any folder
        self._pending = 0
        self._tokens, self._tokens_at = float(PENDING_BURST), time.monotonic()

    def _folder(self, status: str) -> Path:
        return self.root / status

    def entries(self) -> list[KeyEntry]:
        out = []
        for status in STATUSES:
            for f in sorted(self._folder(status).glob("*.key")):
                try:
                    public, _ = zmq.auth.load_certificate(f)
                except (OSError, ValueError):
                    continue
                key = public.decode()
                out.append(KeyEntry(f.stem, status, key, fingerprint(key), f.stat().st_mtime))
        return out

    def _refresh(self) -> None:
        """Re-read the folders when one changed: three stats when nothing did."""
        stamp = tuple(self._folder(s).stat().st_mtime_ns for s in STATUSES)
        now = time.monotonic()
        if stamp == self._stamp and not (self._unsettled and now - self._read_at >= 0.1):
            return
        accepted, known, pending = {}, set(), 0
        for e in self.entries():
            known.add(e.public_key)
            pending += e.status == "pending"
            if e.status == "accepted":
                accepted[e.public_key] = e.name
        self._accepted, self._known, self._pending, self._stamp = accepted, known, pending, stamp
        self._read_at = now
        # a change in the same clock tick as this read would leave the stamp as it is: look again shortly
        self._unsettled = time.time_ns() - max(stamp) < SETTLE_NS

    def minion_of(self, public_key: str) -> str | None:
        with self._lock:
            self._refresh()
            return self._accepted.get(public_key)

    def accepted_ids(self) -> set[str]:
        with self._lock:
            self._refresh()
            return set(self._accepted.values())

    def accepted_keys(self) -> dict[str, str]:
        """Public key (Z85) -> minion id, as the folders say now (the dict is not changed later: keep it)."""
        with self._lock:
            self._refresh()
            return self._accepted

    def record_pending(self, public_key: str) -> str:
        """Note a refused key: "known" (already in a folder), "pending" (file written), or why not: "cap", "rate"."""
        with self._lock:
            self._refresh()
            if public_key in self._known:
                return "known"
            if self._pending >= MAX_PENDING:
                return "cap"
            now = time.monotonic()
            self._tokens = min(PENDING_BURST, self._tokens + (now - self._tokens_at) * PENDING_PER_MIN / 60)
            self._tokens_at = now
            if self._tokens < 1:
                return "rate"
            self._tokens -= 1
            path = self._folder("pending") / f"{fingerprint(public_key)}.key"
            path.write_text(f"# pending minion key, seen by the master\ncurve\n    public-key = \"{public_key}\"\n")
            self._known.add(public_key)
            self._pending += 1
            return "pending"

    # -- operator actions (`hamaster key ...`) ---------------------------------------------------------
    def find(self, name: str) -> KeyEntry:
        matches = [e for e in self.entries() if name in (e.name, e.fingerprint)]
        if not matches:
            raise ConfigError(f"no key named {name!r} (see `hamaster key list`)")
        return matches[0]

    def add(self, minion_id: str, public_key: str, status: str = "accepted") -> None:
        if not valid_name(minion_id):
            raise ConfigError(f"invalid minion id {minion_id!r}")
        for e in self.entries():
            if e.public_key == public_key and not (e.status == status and e.name == minion_id):
                self._path(e).unlink()
            elif e.name == minion_id and e.status == "accepted" and e.public_key != public_key:
                raise ConfigError(f"minion {minion_id!r} is already accepted with another key; delete it first")
        target = self._folder(status) / f"{minion_id}.key"
        target.write_text(f"# minion {minion_id}\ncurve\n    public-key = \"{public_key}\"\n")

    def accept(self, name: str, minion_id: str | None = None) -> str:
        entry = self.find(name)
        new_id = minion_id or (entry.name if entry.status != "pending" else None)
        if new_id is None:
            raise ConfigError(f"pending key {entry.fingerprint} has no minion id yet: give one with --id")
        self.add(new_id, entry.public_key)
        return new_id

    def reject(self, name: str) -> None:
        entry = self.find(name)
        self.add(entry.name, entry.public_key, status="rejected")

    def delete(self, name: str) -> None:
        self._path(self.find(name)).unlink()

    def _path(self, e: KeyEntry) -> Path:
        return self._folder(e.status) / f"{e.name}.key"


class MinionAuthenticator(ThreadAuthenticator):
    """pyzmq's ZAP thread, deciding by our KeyRing; the ZeroMQ User-Id of a connection is its public key."""

    def __init__(self, context: zmq.Context, keyring: KeyRing,
                 refuse: Callable[[str, str, str], None] = lambda reason, who, detail: None) -> None:
        super().__init__(context)
        self.keyring, self.refuse = keyring, refuse

    def callback(self, domain: str, key: bytes) -> bool:
        public = key.decode()
        if self.keyring.minion_of(public) is not None:
            return True
        reason, detail = REFUSALS[self.keyring.record_pending(public)]
        self.refuse(reason, f"key {fingerprint(public)}", detail)
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        import zmq.utils.z85

        return zmq.utils.z85.encode(client_public_key).decode()

    def start(self) -> None:
        self.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self)  # before the thread runs
        super().start()
