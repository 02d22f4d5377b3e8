"""WeCom (企业微信) group bot: `wecombot://KEY` (apprise's form).

    POST {base_url}/cgi-bin/webhook/send?key=KEY
    {"msgtype": "markdown", "markdown": {"content": ..}}       WeCom renders markdown, mentions as <@userid>
    {"msgtype": "text", "text": {"content", "mentioned_list", "mentioned_mobile_list"}}
                                                                when mobiles or everyone ("@all") are mentioned:
                                                                only text messages can mention those
    reply {"errcode": 0, "errmsg": "ok"}, or a refusal with HTTP 200

The group bot has no keyword or signature of its own; `keyword:` is still honoured (a line added).
"""

import urllib.parse
from typing import Any

from hamaster.notify.services.base import DELIVERED, ChatService, Outcome

MARKDOWN_MAX = 4096  # bytes of content WeCom takes
TRANSIENT = {-1: "system busy", 45009: "rate limit (20 messages a minute per bot)", 45033: "too many at once"}
# the bot's limit is over a sliding minute: a try sooner than that is refused again
BLOCKED_S = {45009: 60.0}


class WeCom(ChatService):
    scheme = "wecombot"
    title = "WeCom"
    default_base = "https://qyapi.weixin.qq.com"

    def request(self, title: str, body: str, severity: str) -> tuple[str, dict[str, Any]]:
        url = f"{self.base_url}/cgi-bin/webhook/send?key={urllib.parse.quote(self.token, safe='')}"
        mobiles = [a for a in self.at if a.lstrip("+").replace("-", "").isdigit()]
        users = [a for a in self.at if a not in mobiles]
        extra = [k for k in (self.with_keyword(title, body),) if k]
        if mobiles or "all" in users:
            content = "\n".join([title, body, *extra])
            return url, {"msgtype": "text", "text": {
                "content": _cut(content), "mentioned_list": ["@all" if u == "all" else u for u in users],
                "mentioned_mobile_list": mobiles}}
        mentions = " ".join(f"<@{u}>" for u in users)
        content = "\n".join([f"**{title}**", body, *([mentions] if mentions else []), *extra])
        return url, {"msgtype": "markdown", "markdown": {"content": _cut(content)}}

    def judge(self, reply: dict[str, Any]) -> Outcome:
        code = reply.get("errcode")
        if code == 0:
            return DELIVERED
        why = f"WeCom errcode {code}: {reply.get('errmsg', '')}"
        return Outcome.retry(why, BLOCKED_S.get(code)) if code in TRANSIENT else Outcome.give_up(why)


def _cut(text: str) -> str:
    data = text.encode()
    return text if len(data) <= MARKDOWN_MAX else data[:MARKDOWN_MAX - 3].decode(errors="ignore") + "..."
