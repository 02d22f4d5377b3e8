"""DingTalk, WeCom and Feishu/Lark through `base_url` to a local stand-in of each service.

`Bot` listens on 127.0.0.1 and checks what the real webhook checks, the way its documentation says (the
token; DingTalk's signature in the query, Feishu's in the body, each recomputed here from the secret and
the timestamp sent; the keyword in the content; the msgtype), then answers what the real one answers:
200 with `errcode`/`code` 0, or 200 with the refusal in the body. `limit(n)` makes the next n replies the
service's rate-limit refusal. The senders must turn those into delivered, retried or given up.
"""

import base64
import functools
import hashlib
import hmac
import json
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from feeder import Feeder
from scenarios import SCENARIOS
from sitelib import free_port, wait_for

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import now_ns
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store.outbox import open_outbox
from hamaster.master.timeline.formats import describe
from hamaster.master.timeline.rows import AlertRow, Query, timeline
from hamaster.notify import Notifier, config
from hamaster.notify.services import SERVICES, Mail, Outcome, service_for
from hamaster.notify.services.ratelimit import TokenBucket

TOKEN = "b7e1c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345"
SECRET = "SEC6d1a4bb5e0f0c2a9d8e7f60123456789abcdef0123456789abcdef01234567"  # DingTalk's form of a secret
FAST_RETRY = {"backoff_s": 0.05, "max_backoff_s": 0.2, "max_attempts": 5}

OK = {"dingtalk": {"errcode": 0, "errmsg": "ok"}, "wecombot": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}}
RATE_LIMITED = {"dingtalk": {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
                "wecombot": {"errcode": 45009, "errmsg": "api freq out of limit, hint: [1733112345_1]"},
                "feishu": {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}}

BUSY = {"dingtalk": {"errcode": -1, "errmsg": "系统繁忙"}, "wecombot": {"errcode": -1, "errmsg": "system busy"},
        "feishu": {"code": 11247, "msg": "internal error"}}
# how long each service blocks a bot that went over its limit (DingTalk: 10 minutes; the others' minute)
BLOCK_S = {"dingtalk": 600, "wecombot": 60, "feishu": 60}


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's documented algorithm, written out here independently of the sender's."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class Bot:
    """A local webhook of one service (`kind`: dingtalk, wecombot or feishu; lark answers as feishu)."""

    def __init__(self, kind: str, secret: str | None = None, keyword: str | None = None) -> None:
        self.kind, self.secret, self.keyword = kind, secret, keyword
        self.requests: list[dict[str, Any]] = []  # {"path", "query", "body"} as they arrived
        self.accepted: list[dict[str, Any]] = []
        self.limited = 0
        self.busy = 0  # the next n replies: the service's "system busy" (transient, no block)
        self.http429 = 0  # the next n replies: Feishu's documented 429 with x-ogw-ratelimit-reset
        self.port = free_port()
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path, _, query = self.path.partition("?")
                body = json.loads(raw.decode("utf-8"))
                req = {"path": path, "query": urllib.parse.parse_qs(query), "body": body,
                       "content_type": self.headers.get("Content-Type")}
                bot.requests.append(req)
                reply, code = bot.answer(req), 200  # these services refuse with 200 and a body that says so
                if bot.http429:
                    bot.http429 -= 1
                    reply, code = {"code": 99991400, "msg": "request trigger frequency limit"}, 429
                if reply is OK.get(bot.kind):
                    bot.accepted.append(req)
                data = json.dumps(reply, ensure_ascii=False).encode()
                self.send_response(code)
                if code == 429:
                    self.send_header("x-ogw-ratelimit-limit", "100")
                    self.send_header("x-ogw-ratelimit-reset", "52")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def limit(self, n: int) -> None:
        self.limited = n

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"dingtalk": self.dingtalk, "wecombot": self.wecom, "feishu": self.feishu}[self.kind](req)

    def _rate(self) -> dict[str, Any] | None:
        if self.limited:
            self.limited -= 1
            return RATE_LIMITED[self.kind]
        if self.busy:
            self.busy -= 1
            return BUSY[self.kind]
        return None

    def dingtalk(self, req: dict[str, Any]) -> dict[str, Any]:
        q, body = req["query"], req["body"]
        if req["path"] != "/robot/send" or q.get("access_token") != [TOKEN]:
            return {"errcode": 300005, "errmsg": "token is not exist"}
        if self.secret:
            (ts,), (sign,) = q.get("timestamp", [""]), q.get("sign", [""])  # parse_qs decodes once, as DingTalk
            if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3_600_000:
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            if sign != dingtalk_sign(self.secret, ts):
                return {"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com]"}
        if body.get("msgtype") not in ("text", "markdown", "link", "actionCard", "feedCard"):
            return {"errcode": 40035, "errmsg": "缺少参数 json"}
        if self.keyword and self.keyword not in json.dumps(body.get(body["msgtype"]), ensure_ascii=False):
            return {"errcode": 310000, "errmsg": "keywords not in content, more: [https://ding-doc.dingtalk.com]"}
        return self._rate() or OK["dingtalk"]

    def wecom(self, req: dict[str, Any]) -> dict[str, Any]:
        q, body = req["query"], req["body"]
        if req["path"] != "/cgi-bin/webhook/send" or q.get("key") != [TOKEN]:
            return {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1733112345_2]"}
        if body.get("msgtype") not in ("text", "markdown") or not body[body["msgtype"]].get("content"):
            return {"errcode": 40008, "errmsg": "invalid message type, hint: [1733112345_3]"}
        return self._rate() or OK["wecombot"]

    def feishu(self, req: dict[str, Any]) -> dict[str, Any]:
        body = req["body"]
        if req["path"] != f"/open-apis/bot/v2/hook/{TOKEN}":
            return {"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"}
        if self.secret:
            ts = str(body.get("timestamp", ""))
            if not ts.isdigit() or abs(int(ts) - time.time()) > 3600 or body.get("sign") != feishu_sign(self.secret,
                                                                                                        ts):
                return {"code": 19021, "data": {},
                        "msg": "sign match fail or timestamp is not within one hour from current time"}
        if body.get("msg_type") not in ("text", "post", "image", "share_chat", "interactive"):
            return {"code": 19002, "data": {}, "msg": "params error, msg_type need"}
        if self.keyword and self.keyword not in json.dumps(body, ensure_ascii=False):
            return {"code": 19024, "data": {}, "msg": "Key Words Not Found"}
        return self._rate() or OK["feishu"]


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    made: list[Bot] = []
    yield made
    for b in made:
        b.close()


def bot(bots: list[Bot], kind: str, **kw: Any) -> Bot:
    b = Bot(kind, **kw)
    bots.append(b)
    return b


def sender(scheme: str, b: Bot, secret: str | None = None, **options: Any):
    url = f"{scheme}://{secret + '@' if secret else ''}{TOKEN}"
    s = service_for(url, {"base_url": b.base_url, **options}, "test: notify.targets[0]")
    assert s is not None
    return s


# -- request shapes and replies, one sender at a time -------------------------------------------------
def test_dingtalk_signed_markdown_with_keyword_and_mentions_is_delivered(bots) -> None:
    b = bot(bots, "dingtalk", secret=SECRET, keyword="告警")
    s = sender("dingtalk", b, SECRET, keyword="告警", at=["13800000000", "manager01", "all"])
    assert s.send("[warning] VI_1 moved node1 -> node2 in 600 ms", "VI_1 moved\nCause: node1 FAULT", "warning") \
        == Outcome(True)
    (req,) = b.accepted
    assert req["body"]["msgtype"] == "markdown"
    md = req["body"]["markdown"]
    assert md["title"] == "[warning] VI_1 moved node1 -> node2 in 600 ms"
    assert md["text"].startswith("#### [warning] VI_1 moved node1 -> node2 in 600 ms\n\nVI_1 moved\n\n"
                                 "Cause: node1 FAULT")
    assert "@13800000000" in md["text"] and "@manager01" in md["text"] and md["text"].endswith("告警")
    assert req["body"]["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["manager01"], "isAtAll": True}
    assert req["content_type"] == "application/json; charset=utf-8"


def test_dingtalk_without_a_secret_sends_no_signature(bots) -> None:
    b = bot(bots, "dingtalk")
    assert sender("dingtalk", b).send("t", "b", "info").ok
    (req,) = b.accepted
    assert "sign" not in req["query"] and "timestamp" not in req["query"]


def test_the_stand_in_refuses_a_double_encoded_dingtalk_signature() -> None:
    """The pitfall the sender avoids is real: quote the signature twice and DingTalk says "sign not match"."""
    b = Bot("dingtalk", secret=SECRET)
    try:
        ts = str(time.time_ns() // 1_000_000)
        once = urllib.parse.quote(dingtalk_sign(SECRET, ts), safe="")
        replies = []
        for sign in (once, urllib.parse.quote(once, safe="")):
            url = f"{b.base_url}/robot/send?access_token={TOKEN}&timestamp={ts}&sign={sign}"
            data = json.dumps({"msgtype": "text", "text": {"content": "x"}}).encode()
            req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                replies.append(json.loads(resp.read())["errcode"])
        assert "%3D" in once  # base64 of a SHA-256 ends with '=': there is always something to encode
        assert replies == [0, 310000]
    finally:
        b.close()


WRONG = "0" * 64


@pytest.mark.parametrize(("kind", "bot_secret", "url", "keyword", "reason"), [
    ("dingtalk", SECRET, f"dingtalk://SECwrong@{TOKEN}", "告警", "DingTalk errcode 310000: sign not match"),
    ("dingtalk", None, f"dingtalk://{TOKEN}", None, "DingTalk errcode 310000: keywords not in content"),
    ("dingtalk", None, f"dingtalk://{WRONG}", "告警", "DingTalk errcode 300005: token is not exist"),
    ("wecombot", None, f"wecombot://{WRONG}", None, "WeCom errcode 93000: invalid webhook url"),
    ("feishu", SECRET, f"feishu://wrong@{TOKEN}", "告警", "Feishu code 19021: sign match fail"),
    ("feishu", None, f"feishu://{TOKEN}", None, "Feishu code 19024: Key Words Not Found"),
    ("feishu", None, f"feishu://{WRONG}", "告警", "Feishu code 19001: param invalid"),
])
def test_a_permanent_refusal_gives_up_with_the_services_reason(bots, kind, bot_secret, url, keyword,
                                                               reason) -> None:
    b = bot(bots, kind, secret=bot_secret, keyword="告警" if kind != "wecombot" else None)
    s = service_for(url, {"base_url": b.base_url, **({"keyword": keyword} if keyword else {})}, "test")
    out = s.send("[warning] VI_1 failover", "body", "warning")
    assert not out.ok and out.final, out
    assert out.error.startswith(reason), out.error
    assert b.requests and not b.accepted
    assert TOKEN not in out.error and SECRET not in out.error


@pytest.mark.parametrize("kind", ["dingtalk", "wecombot", "feishu"])
def test_a_rate_limit_is_a_failed_attempt_worth_retrying(bots, kind) -> None:
    b = bot(bots, kind)
    b.limit(1)
    s = sender(kind, b)
    first = s.send("t", "b", "warning")
    assert not first.ok and not first.final
    assert str(RATE_LIMITED[kind].get("errcode", RATE_LIMITED[kind].get("code"))) in first.error
    assert first.retry_after_s == BLOCK_S[kind]  # not a quick backoff that keeps the bot blocked
    assert first.reason.endswith(f"(blocked: next try in {BLOCK_S[kind]} s at the earliest)")
    assert s.send("t", "b", "warning").ok
    b.busy = 1
    busy = s.send("t", "b", "warning")
    assert not busy.ok and not busy.final and busy.retry_after_s is None  # busy: the usual backoff


def test_feishus_429_waits_as_long_as_its_header_says(bots) -> None:
    b = bot(bots, "feishu")
    b.http429 = 1
    out = sender("feishu", b).send("t", "b", "warning")
    assert (out.ok, out.final, out.retry_after_s) == (False, False, 52.0)
    assert out.error == "Feishu code 99991400: request trigger frequency limit"


def test_wecom_markdown_and_text_when_mobiles_are_mentioned(bots) -> None:
    b = bot(bots, "wecombot")
    assert sender("wecombot", b, at=["zhangsan"]).send("【警告】VI_1 主备切换", "正文", "warning").ok
    assert sender("wecombot", b, at=["13800000000", "all"]).send("【警告】VI_1 主备切换", "正文", "warning").ok
    md, text = (r["body"] for r in b.accepted)
    assert md == {"msgtype": "markdown", "markdown": {"content": "**【警告】VI_1 主备切换**\n正文\n<@zhangsan>"}}
    assert text == {"msgtype": "text", "text": {"content": "【警告】VI_1 主备切换\n正文", "mentioned_list": ["@all"],
                                                "mentioned_mobile_list": ["13800000000"]}}


def test_feishu_signed_card_in_the_severitys_colour(bots) -> None:
    b = bot(bots, "feishu", secret=SECRET, keyword="告警")
    s = sender("feishu", b, SECRET, keyword="告警", at=["ou_123", "all"])
    assert s.send("【严重】VI_1 脑裂", "node1 和 node2 同时为 MASTER", "critical").ok
    (req,) = b.accepted
    card = req["body"]["card"]
    assert req["body"]["msg_type"] == "interactive"
    assert card["header"] == {"title": {"tag": "plain_text", "content": "【严重】VI_1 脑裂"}, "template": "red"}
    (element,) = card["elements"]
    assert element == {"tag": "markdown",
                       "content": "node1 和 node2 同时为 MASTER\n<at id=ou_123></at>\n<at id=all></at>\n告警"}


def test_lark_posts_the_feishu_shape_to_its_own_default_host(bots) -> None:
    b = bot(bots, "feishu")
    assert sender("lark", b).send("t", "b", "info").ok
    assert service_for(f"lark://{TOKEN}", {}, "test").base_url == "https://open.larksuite.com"
    assert service_for(f"feishu://{TOKEN}", {}, "test").base_url == "https://open.feishu.cn"


@pytest.mark.parametrize(("native", "scheme", "base"), [
    (f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", "dingtalk", "https://oapi.dingtalk.com"),
    (f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}", "wecombot", "https://qyapi.weixin.qq.com"),
    (f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}", "feishu", "https://open.feishu.cn"),
    (f"https://open.larksuite.com/open-apis/bot/v2/hook/{TOKEN}", "lark", "https://open.larksuite.com"),
])
def test_a_pasted_webhook_url_gets_our_sender_not_apprises(native, scheme, base, tmp_path) -> None:
    (t,) = config.load({"targets": [native]}, "m.yaml", tmp_path).targets
    assert t.plugin.scheme == scheme and t.plugin.token == TOKEN and t.plugin.base_url == base
    assert TOKEN not in t.masked


def test_network_errors_and_5xx_are_retried_a_proxy_page_too(bots) -> None:
    port = free_port()  # nobody listens
    s = service_for(f"dingtalk://{TOKEN}", {"base_url": f"http://127.0.0.1:{port}", "timeout_s": 2}, "t")
    out = s.send("t", "b", "info")
    assert not out.ok and not out.final and "Connection refused" in out.error
    replies = [(502, b"<html>Bad Gateway</html>"), (200, b"<html>proxy login</html>"), (403, b"Forbidden")]

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code, page = replies.pop(0)
            self.send_response(code)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        s = service_for(f"wecombot://{TOKEN}", {"base_url": f"http://127.0.0.1:{server.server_port}"}, "t")
        outs = [s.send("t", "b", "info") for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert [(o.ok, o.final) for o in outs] == [(False, False), (False, False), (False, True)]
    assert outs[0].error == "WeCom: HTTP 502 Bad Gateway"
    assert outs[1].error.startswith("WeCom: reply is not the service's JSON: b'<html>proxy login")
    assert outs[2].error == "WeCom: HTTP 403 Forbidden"


# -- configuration -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("target", "message"), [
    ({"url": f"wecombot://SECRET@{TOKEN}"}, "notify.targets[0].url: expected wecombot://TOKEN"),
    ({"url": "dingtalk://"}, "notify.targets[0].url: expected dingtalk://[SECRET@]TOKEN"),
    ({"url": f"dingtalk://{TOKEN}", "base_url": "oapi.dingtalk.com"}, "notify.targets[0].base_url: expected an"
                                                                        " http:// or https:// URL"),
    ({"url": f"feishu://{TOKEN}", "at": {"x": 1}}, "notify.targets[0].at: expected an integer or a string or a list"),
    ({"url": "json://127.0.0.1:1/hook", "keyword": "告警"}, "notify.targets[0]: keyword is only for dingtalk,"),
    ({"url": f"dingtalk://{TOKEN}", "keywords": "告警"},
     "notify.targets[0].keywords: unknown field, did you mean keyword?"),
    ({"url": f"dingtalk://{TOKEN}?secret=SECabc"}, "notify.targets[0].url: no ?options for dingtalk:// targets"),
])
def test_bad_chat_targets_are_refused_with_the_field(target, message, tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        config.load({"targets": [target]}, "master.yaml", tmp_path)
    assert message in str(err.value)
    assert TOKEN not in str(err.value)


def test_bad_language_and_timezone_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"notify.language: expected one of en, zh; got 'cn'"):
        config.load({"language": "cn"}, "master.yaml", tmp_path)
    with pytest.raises(ConfigError, match=r"notify.timezone: 'Mars/Olympus' is not an IANA time zone"):
        config.load({"timezone": "Mars/Olympus"}, "master.yaml", tmp_path)


def test_chat_target_is_masked_in_logs_and_outbox(tmp_path) -> None:
    cfg = config.load({"targets": [{"url": f"dingtalk://{SECRET}@{TOKEN}", "tags": ["chat"]}]}, "m.yaml", tmp_path)
    (t,) = cfg.targets
    assert TOKEN not in t.masked and SECRET not in t.masked
    assert t.scrub(f"x {TOKEN} y {SECRET}") == "x **** y ****"
    alike = config.load({"targets": [f"wecombot://{TOKEN}", f"wecombot://{TOKEN[:8]}ffff"]}, "m.yaml", tmp_path)
    assert len({t.masked for t in alike.targets}) == 2  # the outbox tells targets apart by this


def test_mail_is_ours_not_apprises_throttled_send_and_our_bucket_takes_a_burst(tmp_path) -> None:
    cfg = config.load({"targets": ["mailto://127.0.0.1:2525?from=ha@example.com&to=ops@example.com"]}, "m.yaml",
                      tmp_path)
    assert isinstance(cfg.targets[0].plugin, Mail)  # apprise's own send would sleep 5.5 s between two mails
    bucket = TokenBucket(3, 0.001)  # refills one per 1000 s: nothing comes back within this test
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() > 900


@pytest.mark.parametrize(("scheme", "per_minute", "per_second"), [
    ("dingtalk", 20, None), ("wecombot", 20, None), ("feishu", 100, 5), ("lark", 100, 5)])
def test_our_bucket_never_lets_more_through_than_the_service_takes(scheme, per_minute, per_second) -> None:
    """A token bucket lets `burst + rate x T` through in any window T: within the documented limits."""
    burst, rate = SERVICES[scheme].rate
    assert burst + rate * 60 <= per_minute
    assert per_second is None or burst + rate * 1 <= per_second


# -- through the Notifier and the outbox -------------------------------------------------------------
def notifier(store_path: Path, tmp_path: Path, targets: list[dict[str, Any]], **extra: Any) -> Notifier:
    n = Notifier({"targets": targets, "retry": FAST_RETRY, **extra}, functools.partial(open_outbox, store_path),
                 tmp_path / "master.yaml")
    n.start()
    return n


def play(conn: sqlite3.Connection, n: Notifier, scenario: str) -> None:
    feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10), t0=now_ns() - 60 * 10**9)
    feeder.run(SCENARIOS[scenario][0])
    n.submit(feeder.new)


def finished(conn: sqlite3.Connection) -> list[tuple[str, int, str | None]]:
    return conn.execute("SELECT status, attempts, last_error FROM deliveries WHERE status IN ('sent', 'failed')"
                        " ORDER BY id").fetchall()


def test_a_busy_service_is_retried_until_delivered(conn, store_path, tmp_path, bots) -> None:
    b = bot(bots, "dingtalk", secret=SECRET, keyword="告警")
    b.busy = 2
    n = notifier(store_path, tmp_path, [{"url": f"dingtalk://{SECRET}@{TOKEN}", "base_url": b.base_url,
                                         "keyword": "告警"}])
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: finished(conn), what="the delivery to finish")
    finally:
        n.stop()
    assert finished(conn) == [("sent", 3, None)]
    errors = [e for (e,) in conn.execute("SELECT error FROM delivery_attempts ORDER BY id")]
    assert errors[:2] == ["DingTalk errcode -1: 系统繁忙"] * 2
    assert errors[2] is None
    (req,) = b.accepted
    assert req["body"]["markdown"]["title"] == "[warning] VI_1 moved node1 -> node2 in 600 ms"


def test_dingtalks_rate_limit_block_is_waited_out_not_hammered(conn, store_path, tmp_path, bots) -> None:
    """DingTalk blocks a robot for 10 minutes after "send too fast": the next try is due after the block
    (a quick backoff would only be refused again), and the alert waits, pending, with the reason shown."""
    b = bot(bots, "dingtalk")
    b.limit(1)
    n = notifier(store_path, tmp_path, [{"url": f"dingtalk://{TOKEN}", "base_url": b.base_url}])
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: conn.execute("SELECT attempts FROM deliveries").fetchone() == (1,),
                 what="the first attempt")
        time.sleep(0.5)  # time for a wrong quick retry (FAST_RETRY: 0.05 s) to happen, if it would
    finally:
        n.stop()
    (status, attempts, error, next_ns) = conn.execute(
        "SELECT status, attempts, last_error, next_ns FROM deliveries").fetchone()
    (tried_ns,) = conn.execute("SELECT at_ns FROM delivery_attempts").fetchone()
    assert (status, attempts) == ("pending", 1)
    assert error == ("DingTalk errcode 130101: send too fast, exceed 20 times per minute"
                     " (blocked: next try in 600 s at the earliest)")
    assert next_ns - tried_ns >= 600 * 10**9 > FAST_RETRY["max_backoff_s"] * 10**9
    assert len(b.requests) == 1


def test_refused_alert_is_given_up_at_once_with_the_reason_kept(conn, store_path, tmp_path, bots, caplog) -> None:
    b = bot(bots, "feishu", keyword="告警")  # the bot wants a keyword the target does not know about
    n = notifier(store_path, tmp_path, [{"url": f"feishu://{TOKEN}", "base_url": b.base_url}])
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: finished(conn), what="the delivery to finish")
    finally:
        n.stop()
    assert finished(conn) == [("failed", 1, "Feishu code 19024: Key Words Not Found")]
    assert len(b.requests) == 1  # given up: no retry of what cannot succeed
    (ok, error) = conn.execute("SELECT ok, error FROM delivery_attempts").fetchone()
    assert (ok, error) == (0, "Feishu code 19024: Key Words Not Found")
    (alert,) = [describe(r) for r in timeline(conn, Query()) if isinstance(r, AlertRow)]  # hamaster timeline's words
    assert alert[2].startswith("alert failed #1: default feishu://") and alert[5] == error
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "hamaster.notify"
            and "delivery" in r.getMessage()] == [("ERROR", f"delivery 1 failed for good: {error}")]


@pytest.mark.parametrize("kind", ["dingtalk", "wecombot", "feishu"])
def test_chinese_failover_alert_reaches_each_service(conn, store_path, tmp_path, bots, kind) -> None:
    b = bot(bots, kind)
    n = notifier(store_path, tmp_path, [{"url": f"{kind}://{TOKEN}", "base_url": b.base_url}],
                 language="zh", timezone="Asia/Shanghai")
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: finished(conn), what="the delivery to finish")
    finally:
        n.stop()
    assert finished(conn) == [("sent", 1, None)]
    (req,) = b.accepted
    text = json.dumps(req["body"], ensure_ascii=False)
    assert "【警告】VI_1 主备切换：node1 → node2" in text
    assert "VI_1 已从 node1 切换到 node2，其间有 600 毫秒没有节点持有。" in text
    assert "原因（node1 一侧）：node1 进入 FAULT 状态（优先级 101）。" in text
    assert "（UTC+8）" in text


# -- mail: the SMTP server's reply decides, as for the chat services ------------------------------------
class Smtp:
    """aiosmtpd on 127.0.0.1 that answers RCPT with `rcpt_replies` first (then 250), keeping what it got."""

    def __init__(self, *rcpt_replies: str) -> None:
        from aiosmtpd.controller import Controller

        self.rcpt_replies = list(rcpt_replies)
        self.mails: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.controller.start()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope.original_content.decode())
        return "250 OK"

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=hamaster@example.com&to=ops@example.com"


@pytest.fixture
def smtps() -> Iterator[list[Smtp]]:
    made: list[Smtp] = []
    yield made
    for s in made:
        s.controller.stop()


@pytest.mark.parametrize(("replies", "outcome"), [
    ((), ("sent", 1, None)),
    (("451 4.7.1 Greylisted, try again later",), ("sent", 2, None)),
    (("550 5.1.1 <ops@example.com>: Recipient address rejected: User unknown",),
     ("failed", 1, "mail: the server said ops@example.com: 550 5.1.1 <ops@example.com>: Recipient address"
                   " rejected: User unknown")),
])
def test_mail_is_retried_on_4xx_and_given_up_on_5xx(conn, store_path, tmp_path, smtps, replies, outcome) -> None:
    smtp = Smtp(*replies)
    smtps.append(smtp)
    n = notifier(store_path, tmp_path, [{"url": smtp.url}])
    try:
        play(conn, n, "fault_on_node1_then_master_on_node2")
        wait_for(lambda: finished(conn), what="the delivery to finish")
    finally:
        n.stop()
    assert finished(conn) == [outcome]
    assert len(smtp.mails) == (outcome[0] == "sent")
    if smtp.mails:
        assert "Subject: [warning] VI_1 moved node1 -> node2 in 600 ms" in smtp.mails[0]


def test_a_burst_of_mails_all_go_out(conn, store_path, tmp_path, smtps) -> None:
    """Three incidents in a row, one mail target: three mails, in order (bench/alert.py times them)."""
    smtp = Smtp()
    smtps.append(smtp)
    n = notifier(store_path, tmp_path, [{"url": smtp.url}])
    try:
        play(conn, n, "no_master_over_the_threshold_then_recovered")
        wait_for(lambda: len(finished(conn)) == 3, what="three deliveries")
    finally:
        n.stop()
    assert [s for s, _, _ in finished(conn)] == ["sent"] * 3
    subjects = [line for m in smtp.mails for line in m.splitlines() if line.startswith("Subject:")]
    assert subjects == ["Subject: [critical] no MASTER for VI_1",
                        "Subject: [resolved] VI_1: back to one MASTER (node2)",
                        "Subject: [warning] VI_1 moved node1 -> node2 in 7.0 s"]


def test_hamaster_notify_test_reaches_a_bot_and_names_a_refusal(site, bots) -> None:
    good, fussy = bot(bots, "dingtalk", secret=SECRET), bot(bots, "feishu", keyword="告警")
    with open(site.config, "a") as f:
        f.write(f"\nnotify:\n  targets:\n"
                f"    - {{url: 'dingtalk://{SECRET}@{TOKEN}', base_url: '{good.base_url}', name: ding}}\n"
                f"    - {{url: 'feishu://{TOKEN}', base_url: '{fussy.base_url}', name: fei}}\n")
    out = site.cli("notify", "test", check=False)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("sent    ding  dingtalk://****@b7e1****")
    assert lines[1].startswith("FAILED  fei  feishu://b7e1****")
    assert lines[1].endswith("(Feishu code 19024: Key Words Not Found)")
    assert good.accepted[0]["body"]["markdown"]["title"] == "hamaster test message"
    assert TOKEN not in out.stdout + out.stderr and SECRET not in out.stdout + out.stderr
