"""What every chat sender shares: the URL form, the options, one HTTP post, and the judgement of the reply.

A sender answers an Outcome, never raises: delivered; refused for now (rate limit, 5xx, network: the outbox
retries with backoff); or refused for good (bad token, keyword, signature: retrying cannot help, so the
delivery fails at once with the service's own reason). Reasons never contain the URL, token or secret.
"""

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, ClassVar

from hamaster.core.errors import ConfigError

REPLY_MAX = 64 * 1024  # a reply body is a few dozen bytes; a proxy's error page is cut here


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None
    final: bool = False  # a permanent refusal: give up now instead of retrying
    # the service's own block (DingTalk's rate limit: 10 minutes): the next try waits at least this long,
    # since one sooner than that is refused again and may extend the block
    retry_after_s: float | None = None

    @classmethod
    def retry(cls, error: str, after_s: float | None = None) -> "Outcome":
        return cls(False, error, retry_after_s=after_s)

    @property
    def reason(self) -> str | None:
        """The error as the outbox and the timeline keep it, with the wait a block imposes."""
        if self.error and self.retry_after_s:
            return f"{self.error} (blocked: next try in {self.retry_after_s:g} s at the earliest)"
        return self.error

    @classmethod
    def give_up(cls, error: str) -> "Outcome":
        return cls(False, error, final=True)


DELIVERED = Outcome(True)


class ChatService:
    """One configured bot. Subclasses give the scheme, the default host, the request and the judge."""

    scheme: ClassVar[str]
    title: ClassVar[str]  # the service's name in reasons
    default_base: ClassVar[str]
    signs: ClassVar[bool] = False  # whether `scheme://SECRET@TOKEN` is a form of this service
    # (burst, per second) of our TokenBucket: burst + rate x 60 s stays within 20 a minute, the limit of
    # DingTalk's and WeCom's bots (DingTalk then blocks the robot for 10 minutes)
    rate: ClassVar[tuple[int, float]] = (10, 10 / 60)

    def __init__(self, token: str, secret: str | None = None, targets: tuple[str, ...] = (),
                 base_url: str | None = None, keyword: str | None = None, at: tuple[str, ...] = (),
                 timeout_s: float = 10.0) -> None:
        self.token, self.secret = token, secret
        self.base_url = (base_url or self.default_base).rstrip("/")
        self.keyword = keyword
        self.at = tuple(dict.fromkeys((*targets, *at)))  # apprise's /TARGETS and `at:` alike
        self.timeout_s = timeout_s

    # -- configuration -------------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, options: dict[str, Any], where: str) -> "ChatService":
        rest, _, query = url.split("://", 1)[1].partition("?")
        if query:  # apprise's ?options mean nothing here: say so rather than ignore them
            raise ConfigError(f"{where}.url: no ?options for {cls.scheme}:// targets; use the fields"
                              f" {', '.join(('base_url', 'keyword', 'at', 'timeout_s'))} beside url")
        auth, _, path = rest.partition("/")
        secret, _, token = auth.rpartition("@")
        if not token or (secret and not cls.signs):
            form = f"{cls.scheme}://[SECRET@]TOKEN" if cls.signs else f"{cls.scheme}://TOKEN"
            raise ConfigError(f"{where}.url: expected {form}")
        targets = tuple(p for p in path.split("/") if p)
        base_url = options.get("base_url")
        if base_url is not None and (not isinstance(base_url, str)
                                     or not base_url.startswith(("http://", "https://"))):
            raise ConfigError(f"{where}.base_url: expected an http:// or https:// URL")
        keyword = options.get("keyword")
        if keyword is not None and (not isinstance(keyword, str) or not keyword):
            raise ConfigError(f"{where}.keyword: expected the bot's keyword (a string)")
        at = options.get("at", [])
        at = [at] if isinstance(at, str | int) else at
        if not isinstance(at, list) or not all(isinstance(a, str | int) and str(a) for a in at):
            raise ConfigError(f"{where}.at: expected a list of people to mention (or 'all')")
        timeout = options.get("timeout_s", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{where}.timeout_s: expected a number of seconds")
        return cls(token, secret or None, targets, base_url, keyword, tuple(str(a) for a in at), float(timeout))

    def masked(self) -> str:
        """The target as logs, the outbox and the timeline show it: no secret, the token's first characters
        and a short digest of it (two bots whose tokens start alike stay two targets), the host if not the
        service's own."""
        secret = "****@" if self.secret else ""
        digest = hashlib.sha256(self.token.encode()).hexdigest()[:6]
        via = "" if self.base_url == self.default_base else f" via {self.base_url}"
        return f"{self.scheme}://{secret}{self.token[:4]}****{digest}/{via}"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.secret, self.token) if s)

    # -- sending -------------------------------------------------------------------------------------
    def request(self, title: str, body: str, severity: str) -> tuple[str, dict[str, Any]]:
        """-> (URL to post to, JSON payload)."""
        raise NotImplementedError

    def judge(self, reply: dict[str, Any]) -> Outcome:
        """The reply body -> delivered, retry or give up."""
        raise NotImplementedError

    def with_keyword(self, *texts: str) -> str:
        """A line to add so the bot's keyword is in the message, or '' when it already is."""
        if self.keyword and not any(self.keyword in t for t in texts):
            return self.keyword
        return ""

    def send(self, title: str, body: str, severity: str) -> Outcome:
        url, payload = self.request(title, body, severity)
        data = json.dumps(payload, ensure_ascii=False).encode()
        req = urllib.request.Request(url, data, {"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read(REPLY_MAX)
        except urllib.error.HTTPError as exc:
            raw = exc.read(REPLY_MAX)
            exc.close()
            reply = _json(raw)
            after = retry_after(exc.headers)
            if reply is not None and self._has_code(reply):
                out = self.judge(reply)  # some services put their verdict in a 4xx body too
                if after and not out.ok and not out.final:  # the header says exactly how long
                    return Outcome.retry(out.error or self.title, after)
                return out
            why = f"{self.title}: HTTP {exc.code} {exc.reason}"
            transient = exc.code in (408, 429) or exc.code >= 500
            return Outcome.retry(why, after) if transient else Outcome.give_up(why)
        except (TimeoutError, urllib.error.URLError, OSError) as exc:  # refused, reset, timeout, DNS
            reason = getattr(exc, "reason", exc)
            return Outcome.retry(f"{self.title}: {type(reason).__name__}: {reason}"[:300])
        reply = _json(raw)
        if reply is None or not self._has_code(reply):
            return Outcome.retry(f"{self.title}: reply is not the service's JSON: {raw[:80]!r}")
        return self.judge(reply)

    @staticmethod
    def _has_code(reply: dict[str, Any]) -> bool:
        return "errcode" in reply or "code" in reply or "StatusCode" in reply


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from a refusal's headers: HTTP's Retry-After (in seconds), or Feishu's
    x-ogw-ratelimit-reset (its documented 429 reply); None without either."""
    for name in ("Retry-After", "x-ogw-ratelimit-reset"):
        value = headers.get(name) if headers is not None else None
        try:
            seconds = float(value) if value is not None else None
        except ValueError:  # an HTTP date: rare from these services; the service's own rule applies
            seconds = None
        if seconds is not None and 0 < seconds <= 24 * 3600:
            return seconds
    return None


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
