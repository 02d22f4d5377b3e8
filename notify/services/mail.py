"""Mail: apprise parses the `mailto://` URL and builds the message; we hold the SMTP conversation.

Why not apprise's own send: it builds a new TLS context for every mail, loading the system's CA bundle
each time (160 ms of CPU per mail on the 2-core machine, even for plain SMTP), throttles each target to one
mail per 5.5 s, and answers only True/False. Here the TLS context is made once per verify mode, the rate
limit is our TokenBucket, and the server's reply decides: 4xx or a lost connection is tried again, 5xx
(unknown mailbox, relaying denied, authentication failed) is given up with the server's own words.
"""

import smtplib
import ssl
import threading
from typing import Any

from hamaster.notify.services.base import DELIVERED, Outcome

_contexts: dict[bool, ssl.SSLContext] = {}
_lock = threading.Lock()


def tls_context(verify: bool) -> ssl.SSLContext:
    with _lock:
        if verify not in _contexts:
            ctx = ssl.create_default_context()
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            _contexts[verify] = ctx
        return _contexts[verify]


def usable(plugin: Any) -> bool:
    """Whether this apprise plugin is plain SMTP mail we can send ourselves (this apprise's internals)."""
    names = ("smtp_host", "port", "secure_mode", "from_addr", "targets", "prepare_emails", "_protocol_headers")
    return type(plugin).__name__ == "NotifyEmail" and all(hasattr(plugin, n) for n in names) \
        and getattr(plugin, "pgp_mode", "no") == "no"  # PGP signing or encryption stays apprise's


class Mail:
    def __init__(self, plugin: Any) -> None:
        self.plugin = plugin  # apprise's NotifyEmail, for its parsed URL and its message building

    def send(self, title: str, body: str, severity: str) -> Outcome:
        p = self.plugin
        try:
            messages = list(p.prepare_emails(
                subject=title, body=body, notify_format=p.resolve_format(None), from_addr=p.from_addr,
                to=p.targets, cc=p.cc, bcc=p.bcc, reply_to=p.reply_to, smtp_host=p.smtp_host,
                headers={"X-Application": p.app_id, **p.headers, **p._protocol_headers(body)},
                names=p.names, tzinfo=p.tzinfo))
        except Exception as exc:  # apprise refuses to build it (no recipient, bad address): the URL is wrong
            return Outcome.give_up(f"mail: {type(exc).__name__}: {exc}")
        if not messages:
            return Outcome.give_up("mail: no recipient in the URL")
        mode = str(p.secure_mode)
        try:
            if mode == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(p.smtp_host, p.port, timeout=p.socket_connect_timeout,
                                                      context=tls_context(p.verify_certificate))
            else:
                smtp = smtplib.SMTP(p.smtp_host, p.port, timeout=p.socket_connect_timeout)
            with smtp:
                if mode == "starttls":
                    smtp.starttls(context=tls_context(p.verify_certificate))
                if p.user and p.password:
                    smtp.login(p.user, p.password)
                refused: dict[str, tuple[int, bytes]] = {}
                for m in messages:
                    refused |= smtp.sendmail(p.from_addr[1], m.to_addrs, m.body)
        except smtplib.SMTPRecipientsRefused as exc:
            return _by_code(min(c for c, _ in exc.recipients.values()),
                            "; ".join(f"{a}: {c} {_text(t)}" for a, (c, t) in exc.recipients.items()))
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth failed ...
            return _by_code(exc.smtp_code, f"{exc.smtp_code} {_text(exc.smtp_error)}")
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS, server gone
            return Outcome.retry(f"mail: {p.smtp_host}:{p.port}: {type(exc).__name__}: {exc}"[:300])
        if refused:
            return _by_code(min(c for c, _ in refused.values()),
                            "; ".join(f"{a}: {c} {_text(t)}" for a, (c, t) in refused.items()))
        return DELIVERED


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else raw).replace("\n", " ")[:200]


def _by_code(code: int, why: str) -> Outcome:
    """SMTP's own rule: 4xx is for now (greylisting, mailbox busy, rate), 5xx is for good."""
    why = f"mail: the server said {why}"
    return Outcome.retry(why) if 400 <= code < 500 or code < 0 else Outcome.give_up(why)
