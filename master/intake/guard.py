"""The connection guard: unauthenticated TCP connections cannot use up the master's file descriptors.

Each TCP connection costs an fd before its CURVE handshake is done, and libzmq aborts the whole process when
accept() on the control socket meets EMFILE. So, at start, the soft fd limit is raised to the hard one; the
ROUTER gives up on a handshake after HANDSHAKE_S; and this guard watches the ROUTER's monitor: a connection
that has not yet sent a frame from an accepted key is unauthenticated, and when there are more than
`bound` of them the oldest are shut down (shutdown(2) on the fd: libzmq sees the peer leave and closes it
itself). Minions that have spoken are never shut for that. Refused handshakes are counted too; the handshake
timeout is intake.HANDSHAKE_S.

A connection that has spoken is known by its key (fd -> CURVE key): when the key is no longer accepted
(rejected, deleted, its id given to another key) the connection is shut the same way, at once, and the
peer's reconnect meets the ZAP handler, which refuses it (keys.py).

A frame larger than the ROUTER's MAXMSGSIZE is refused by libzmq itself: it reads the frame's size, drops
the connection and says only "disconnected", as for a peer that left. To tell the two apart the guard keeps
a dup of each connection's fd from its ACCEPTED event on (so the socket outlives libzmq's close until the
guard has looked): when a connection is disconnected while its peer is still there (the rest of the frame
unread, or no EOF) and not for a failed handshake, libzmq dropped it for what it was sent, and `too_large`
is counted; a peer that closed, and a connection the guard shut, read EOF. A failed handshake is the event
just before its connection's "disconnected" (libzmq emits both at once; the monitor names no fd for it).
Cost: one more fd per connection (the bound of unauthenticated ones counts it), while the dups take at most a
quarter of the fd limit: beyond that (thousands of minions on a low limit) libzmq's own fds come first, and a
dropped connection without a dup goes uncounted.

The same dup tells a minion's death: when a connection whose key had spoken reads EOF (or a reset), its
peer closed it. A minion that died with its kernel alive (kill -9, the OOM killer) closes it at once, so
`on_closed(key, at_ns)` gives the correlator a witness of the node's death (dating.py: "connection"), stamped
when the loop read the monitor event. A connection the guard shut itself (a revoked key) is not reported,
nor one without a dup.
"""

import logging
import os
import resource
import socket
from collections import OrderedDict
from collections.abc import Callable, Mapping

import zmq
from zmq.utils.monitor import parse_monitor_message

from hamaster.core.protocol import fingerprint
from hamaster.core.timeutil import now_ns
from hamaster.master.intake.refusals import Refusals

log = logging.getLogger("hamaster")

EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
FAILED: dict[int, str] = {zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed", zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
          "handshake_protocol", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_auth"}


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft


def unauthenticated_bound(fd_limit: int) -> int:
    """An eighth of the fds (each connection costs two: libzmq's and the guard's dup), at most 1,024: the rest
    for minions, the store, the control socket."""
    return max(16, min(1024, fd_limit // 8))


def peer_still_there(sock: socket.socket) -> bool:
    """Whether the peer of a connection libzmq has let go of still sends or waits (no EOF, no reset)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


class ConnectionGuard:
    def __init__(self, router: zmq.Socket, port: int | None, refusals: Refusals, bound: int) -> None:
        self.router, self.port, self.refusals, self.bound = router, port, refusals, bound
        self.monitor = router.get_monitor_socket(EVENTS)
        self.unauthenticated: OrderedDict[int, None] = OrderedDict()  # fd -> None, oldest first
        self.keys: dict[int, str] = {}  # fd -> the accepted key (Z85) that spoke on it
        self.dups: dict[int, socket.socket] = {}  # fd -> our own handle on its connection
        self.dup_budget = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4
        self.handshake_failed = False  # the last event was a failed handshake: the next disconnect is its own
        size = router.getsockopt(zmq.MAXMSGSIZE)
        self.max_size = size if isinstance(size, int) else -1
        self.shut = 0
        self.on_closed: Callable[[str, int], None] = lambda key, at_ns: None  # a minion's peer closed: its key, when

    def close(self) -> None:
        self.router.disable_monitor()
        self.monitor.close(linger=0)
        for sock in self.dups.values():
            sock.close()
        self.dups.clear()

    def _dup(self, fd: int) -> None:
        if len(self.dups) >= self.dup_budget:
            return
        try:
            self.dups[fd] = socket.socket(fileno=os.dup(fd))
        except OSError:  # at the fd limit, or gone already: this connection's drop goes uncounted
            pass

    def _gone(self, fd: int, dropped: bool = False) -> None:
        """libzmq closed the connection on fd; `dropped`: not for a failed handshake, so count it if its
        peer was still there."""
        self.unauthenticated.pop(fd, None)
        key = self.keys.pop(fd, None)
        dup = self.dups.pop(fd, None)
        if dup is None:
            return
        try:
            there = peer_still_there(dup)
            if dropped and there:
                self.refusals.refuse("too_large", f"key {fingerprint(key)}" if key else "a peer",
                                     f"a frame over {self.max_size} bytes: connection dropped")
            elif key is not None and not there:
                self.on_closed(key, now_ns())
        finally:
            dup.close()

    def spoke(self, fd: int, key: str) -> None:
        """A frame from an accepted key came on this fd: it is a minion's."""
        if self.unauthenticated:
            self.unauthenticated.pop(fd, None)
        self.keys[fd] = key

    def revoke(self, accepted: Mapping[str, str]) -> None:
        """The accepted keys changed: shut every connection whose key is not among them any more."""
        for fd, key in list(self.keys.items()):
            if key not in accepted:
                del self.keys[fd]
                self._shut(fd, "revoked_closed", f"key {fingerprint(key)}", "no longer accepted: connection closed")

    def revoked_frame(self, fd: int | None) -> None:
        """A frame came from a key that is no longer accepted on a connection we had not seen speak."""
        if fd is not None:
            self.keys.pop(fd, None)
            self._shut(fd, None, "", "")

    def serve(self) -> None:
        for _ in range(10_000):
            try:
                msg = self.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            event = parse_monitor_message(msg)
            kind, value = event["event"], event["value"]
            if kind == zmq.EVENT_ACCEPTED:
                self._gone(value)  # what we knew of an earlier connection on this fd number is over
                self.unauthenticated[value] = None
                self._dup(value)
            elif kind in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED):
                self._gone(value, dropped=kind == zmq.EVENT_DISCONNECTED and not self.handshake_failed)
            elif kind in FAILED:
                self.refusals.refuse(FAILED[kind], "a peer", f"handshake refused (code {value})")
            self.handshake_failed = kind in FAILED
        while len(self.unauthenticated) > self.bound:
            fd, _ = self.unauthenticated.popitem(last=False)
            self._shut(fd, "unauthenticated_bound", "a peer",
                       f"more than {self.bound} connections without an accepted key")

    def _shut(self, fd: int, reason: str | None, who: str, detail: str) -> None:
        """shutdown(2) the fd if it is a TCP connection of our port (reason: counted as refused)."""
        try:
            sock = socket.socket(fileno=fd)  # not a dup: that would need a free fd; detached below
        except OSError:
            return
        try:
            if sock.type == socket.SOCK_STREAM and (self.port is None or sock.getsockname()[1] == self.port):
                sock.shutdown(socket.SHUT_RDWR)  # libzmq reads EOF and closes the fd itself
                self.shut += 1
                if reason is not None:
                    self.refusals.refuse(reason, who, detail)
        except OSError:
            pass
        finally:
            sock.detach()
