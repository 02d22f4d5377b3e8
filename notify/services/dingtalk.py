"""DingTalk (钉钉) custom robot: `dingtalk://TOKEN` or, signed, `dingtalk://SECRET@TOKEN` (apprise's forms;
`/MOBILE/...` after the token are mentioned, as with `at:`).

    POST {base_url}/robot/send?access_token=TOKEN[&timestamp=MS&sign=SIGN]
    {"msgtype": "markdown", "markdown": {"title": .., "text": ..}, "at": {"atMobiles", "atUserIds", "isAtAll"}}
    reply {"errcode": 0, "errmsg": "ok"}, or a refusal with HTTP 200

The signature (DingTalk's "加签"): base64(HMAC-SHA256(key=SECRET, msg=f"{MS}\\n{SECRET}")), URL-encoded
once, MS in milliseconds and within an hour of DingTalk's clock. It is put into the query string here
exactly once: clients that quote it and then hand it to a library that quotes again send `%252B` and are
refused with "sign not match".
"""

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

from hamaster.notify.services.base import DELIVERED, ChatService, Outcome

# errcodes worth another try: DingTalk's "system busy", and the robot's rate limit (20 messages a minute:
# "send too fast", then the robot is blocked for 10 minutes; a try within them is refused again).
# Everything else (token, keyword, signature, IP, content) is permanent.
TRANSIENT = {-1: "system busy", 130101: "rate limit", 410100: "rate limit"}
BLOCKED_S = {130101: 600.0, 410100: 600.0}


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature, URL-encoded once (ready for the query string)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote(base64.b64encode(digest).decode(), safe="")


class DingTalk(ChatService):
    scheme = "dingtalk"
    title = "DingTalk"
    default_base = "https://oapi.dingtalk.com"
    signs = True

    def request(self, title: str, body: str, severity: str) -> tuple[str, dict[str, Any]]:
        url = f"{self.base_url}/robot/send?access_token={urllib.parse.quote(self.token, safe='')}"
        if self.secret:
            ms = time.time_ns() // 1_000_000
            url += f"&timestamp={ms}&sign={sign(self.secret, ms)}"
        mobiles = [a for a in self.at if a.lstrip("+").replace("-", "").isdigit()]
        users = [a for a in self.at if a != "all" and a not in mobiles]
        # DingTalk's markdown takes a blank line as a line break; a mention shows only if "@who" is in the text
        lines = [f"#### {title}", *[line for line in body.splitlines() if line.strip()]]
        mentions = " ".join(f"@{a}" for a in (*mobiles, *users))
        if mentions:
            lines.append(mentions)
        keyword = self.with_keyword(title, body)
        if keyword:
            lines.append(keyword)
        return url, {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join(lines)},
                     "at": {"atMobiles": mobiles, "atUserIds": users, "isAtAll": "all" in self.at}}

    def judge(self, reply: dict[str, Any]) -> Outcome:
        code = reply.get("errcode")
        if code == 0:
            return DELIVERED
        why = f"DingTalk errcode {code}: {reply.get('errmsg', '')}"
        return Outcome.retry(why, BLOCKED_S.get(code)) if code in TRANSIENT else Outcome.give_up(why)
