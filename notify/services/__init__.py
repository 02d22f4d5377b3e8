"""Chat services apprise cannot deliver truthfully: one small sender per service.

    base.py      Outcome (delivered / retry / give up, with the service's reason) and ChatService: the
                 HTTP post, the reply-body judgement, mentions, keyword, base_url, masking
    dingtalk.py  DingTalk (钉钉) custom robot, with or without its signing secret
    wecom.py     WeCom (企业微信) group bot
    feishu.py    Feishu (飞书) and Lark custom bots, with or without their signing secret
    mail.py      mail: apprise parses mailto:// and builds the message, we talk SMTP (one TLS context,
                 no 5.5 s throttle, 4xx retried and 5xx given up with the server's words)
    ratelimit.py a token bucket per target: bursts go out at once, storms are spread

apprise's plugins for these post to fixed hosts and judge by the HTTP status, while these services answer
200 with the refusal in the body; ours read the body. `service_for(url, options)` builds the sender for a
target of master.yaml, or None for a URL apprise keeps; `own_sender(plugin)` takes over apprise's mail.
"""

import re
from typing import Any

from hamaster.notify.services.base import ChatService, Outcome
from hamaster.notify.services.dingtalk import DingTalk
from hamaster.notify.services.feishu import Feishu, Lark
from hamaster.notify.services.mail import Mail, usable
from hamaster.notify.services.wecom import WeCom

SERVICES: dict[str, type[ChatService]] = {c.scheme: c for c in (DingTalk, WeCom, Feishu, Lark)}
OPTIONS = ("base_url", "keyword", "at", "timeout_s")
OWN = (ChatService, Mail)  # senders that answer an Outcome; anything else is an apprise plugin


# the webhook URLs the services hand out, pasted as they are: ours too, not apprise's unchecked send
NATIVE = [(re.compile(r"^(https://oapi\.dingtalk\.com)/robot/send\?access_token=([\w-]+)$"), DingTalk),
          (re.compile(r"^(https://qyapi\.weixin\.qq\.com)/cgi-bin/webhook/send\?key=([\w-]+)$"), WeCom),
          (re.compile(r"^(https://open\.feishu\.cn)/open-apis/bot/v2/hook/([\w-]+)$"), Feishu),
          (re.compile(r"^(https://open\.larksuite\.com)/open-apis/bot/v2/hook/([\w-]+)$"), Lark)]


def service_for(url: str, options: dict, where: str) -> ChatService | None:
    """The sender of a `dingtalk://`, `wecombot://`, `feishu://` or `lark://` URL, or of the webhook URL
    such a bot shows (signed DingTalk and Feishu bots need the scheme form, which carries the secret);
    None for anything else."""
    for pattern, service in NATIVE:
        m = pattern.match(url)
        if m:
            return service.from_url(f"{service.scheme}://{m.group(2)}", {"base_url": m.group(1), **options}, where)
    cls = SERVICES.get(url.split("://", 1)[0].lower())
    return cls.from_url(url, options, where) if cls else None


def own_sender(plugin: Any) -> Any:
    """Our Mail for apprise's plain SMTP mail; any other apprise plugin as it is."""
    return Mail(plugin) if usable(plugin) else plugin


__all__ = ["OPTIONS", "OWN", "SERVICES", "ChatService", "Mail", "Outcome", "own_sender", "service_for"]
