"""Feishu (飞书) and Lark custom bots: `feishu://TOKEN`, `lark://TOKEN` (apprise's forms) or, signed,
`feishu://SECRET@TOKEN`.

    POST {base_url}/open-apis/bot/v2/hook/TOKEN
    {"msg_type": "interactive", "card": {header: title in the severity's colour, elements: [markdown]},
     "timestamp": "S", "sign": ..}                            a card renders markdown and <at id=..></at>
    reply {"code": 0, "msg": "success", ...}, or {"code": 19021, "msg": "sign match fail ..."} and the like

The signature (Feishu's "签名校验"): base64(HMAC-SHA256(key=f"{S}\\n{SECRET}", msg=b"")), S in seconds, sent
in the JSON body (not the URL, unlike DingTalk).
"""

import base64
import hashlib
import hmac
import time
from typing import Any

from hamaster.notify.services.base import DELIVERED, ChatService, Outcome

COLOURS = {"critical": "red", "warning": "orange", "info": "green"}
# the bot's frequency limit (100 a minute, 5 a second) and the platform's own overload; the rest
# (19001 bad token, 19021 signature, 19022 IP, 19024 keyword, bad card) is permanent
TRANSIENT = {9499: "too many requests", 11232: "frequency limited", 11247: "internal error",
             99991400: "request trigger frequency limit"}
# a frequency limit holds for the rest of its minute; a 429's x-ogw-ratelimit-reset, when sent, says exactly
BLOCKED_S = {9499: 60.0, 11232: 60.0, 99991400: 60.0}


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class Feishu(ChatService):
    scheme = "feishu"
    title = "Feishu"
    default_base = "https://open.feishu.cn"
    signs = True
    rate = (4, 1.0)  # within both of Feishu's limits: 5 in any second, 100 in any minute

    def request(self, title: str, body: str, severity: str) -> tuple[str, dict[str, Any]]:
        url = f"{self.base_url}/open-apis/bot/v2/hook/{self.token}"
        lines = [body, *[f"<at id={a}></at>" for a in self.at]]
        keyword = self.with_keyword(body)  # in the card's text itself: whether the header counts is not documented
        if keyword:
            lines.append(keyword)
        payload: dict[str, Any] = {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title},
                       "template": COLOURS.get(severity, "blue")},
            "elements": [{"tag": "markdown", "content": "\n".join(lines)}]}}
        if self.secret:
            now = time.time_ns() // 1_000_000_000
            payload |= {"timestamp": str(now), "sign": sign(self.secret, now)}
        return url, payload

    def judge(self, reply: dict[str, Any]) -> Outcome:
        code = reply.get("code", reply.get("StatusCode"))
        if code == 0:
            return DELIVERED
        why = f"{self.title} code {code}: {reply.get('msg', reply.get('StatusMessage', ''))}"
        return Outcome.retry(why, BLOCKED_S.get(code)) if code in TRANSIENT else Outcome.give_up(why)


class Lark(Feishu):
    scheme = "lark"
    title = "Lark"
    default_base = "https://open.larksuite.com"
