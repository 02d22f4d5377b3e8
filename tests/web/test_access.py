"""Who may read the dashboard, and what it never shows: a non-loopback bind needs a token or users, answers
without them are refused, every answer has a strict CSP, and alert targets appear by name, never as URLs."""

import base64
import json
import subprocess
from pathlib import Path

import pytest
from receivers import HttpReceiver
from sitelib import HAMASTER, Site, wait_for
from webtools import WebProcess, get, get_json

from hamaster.master.web.auth import check_password, hash_password

SECRET = "Sup3rSecretTok3n"


def test_a_non_loopback_bind_without_credentials_is_refused(site: Site) -> None:
    p = subprocess.run([HAMASTER, "web", "-c", site.config, "--bind", "0.0.0.0:1"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "hamaster: error: --bind 0.0.0.0:1: not a loopback address; give --token-file or --users so that only"
        " those you allow can read the site"]


@pytest.fixture
def token_web(pair_site: Site, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("k9Jq2mZx7Lw4Rt8Vb3Nc\n")
    w = WebProcess(pair_site.config, "--token-file", str(token), host="0.0.0.0", log=tmp_path / "web.log")
    w.url = f"http://127.0.0.1:{w.port}"  # bound on every address; asked on loopback only
    try:
        w.wait_up()
        yield w, "k9Jq2mZx7Lw4Rt8Vb3Nc"
    finally:
        w.stop()


def test_a_token_is_needed_on_a_non_loopback_bind(token_web) -> None:
    web, token = token_web
    for path in ("/", "/api/status", "/events", "/timeline", "/incident/1", "/static/app.js"):
        status, headers, body = get(web.url + path)
        assert status == 401, path
        assert "default-src 'none'" in headers["content-security-policy"]
        assert token.encode() not in body
    assert get(web.url + "/api/status", {"Authorization": "Bearer wrong-token-of-length"})[0] == 401
    doc = get_json(web.url + "/api/status", {"Authorization": f"Bearer {token}"})
    assert doc["groups"][0]["holder"] == ["node1"]
    # a browser's first visit: the token in the address once, then a cookie, and the address without it
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("GET", f"/timeline?token={token}&kind=vrrp")
    resp = conn.getresponse()
    assert resp.status == 303 and resp.getheader("location") == "/timeline?kind=vrrp"
    cookie = resp.getheader("set-cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    conn.close()
    status, _, body = get(web.url + "/timeline?kind=vrrp", {"Cookie": cookie.split(";")[0]})
    assert status == 200 and b"MASTER" in body and token.encode() not in body


def test_basic_auth_with_a_hashed_password(pair_site: Site, tmp_path: Path) -> None:
    made = subprocess.run([HAMASTER, "web", "--hash-password"], input="correct horse\n", capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    hashed = made.stdout.strip()
    assert hashed.startswith("scrypt$") and "correct horse" not in hashed and check_password("correct horse", hashed)
    assert not check_password("wrong horse", hashed) and hash_password("correct horse") != hashed  # salted
    users = tmp_path / "users"
    users.write_text(f"# who may read the dashboard\nops:{hashed}\n")
    web = WebProcess(pair_site.config, "--users", str(users), host="0.0.0.0", log=tmp_path / "web.log")
    web.url = f"http://127.0.0.1:{web.port}"
    try:
        web.wait_up()
        status, headers, _ = get(web.url + "/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic ")

        def basic(user: str, password: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        assert get(web.url + "/", basic("ops", "wrong horse"))[0] == 401
        assert get(web.url + "/", basic("root", "correct horse"))[0] == 401
        status, headers, body = get(web.url + "/", basic("ops", "correct horse"))
        assert status == 200 and b'data-holder="node1"' in body
        assert headers["x-frame-options"] == "DENY"
    finally:
        web.stop()


def test_alert_targets_are_shown_by_name_never_as_urls(site: Site, http_receiver: HttpReceiver) -> None:
    url = http_receiver.url.replace("json://", f"json://hook:{SECRET}@")
    with open(site.config, "a") as f:
        f.write(f"notify:\n  targets:\n    - {{url: {json.dumps(url)}, name: oncall-chat, tags: [chat]}}\n"
                "  routes:\n    - {name: pager, tags: [chat]}\n")
    site.start_pair()
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(lambda: site.query("SELECT 1 FROM deliveries WHERE status = 'sent'"), 30, "the failover's alert sent")
    [(incident,)] = site.query("SELECT incident_id FROM deliveries WHERE status = 'sent'")
    web = WebProcess(site.config, log=site.root / "web.log")
    try:
        web.wait_up()
        pages = {path: get(web.url + path)[2].decode() for path in
                 ("/", "/api/status", "/timeline?kind=alert,incident", "/api/timeline?kind=alert",
                  f"/incident/{incident}", f"/api/incidents/{incident}")}
        for path, body in pages.items():
            assert SECRET not in body and "json://" not in body, path
        assert "oncall-chat" in pages["/timeline?kind=alert,incident"]
        assert "oncall-chat (route pager)" in pages[f"/incident/{incident}"]
        assert [r["target"] for r in json.loads(pages["/api/timeline?kind=alert"])["rows"]] == ["oncall-chat"]
    finally:
        web.stop()


@pytest.mark.parametrize(("args", "files", "error"), [
    (["--bind", "localhost"], {}, "--bind 'localhost': expected HOST:PORT, e.g. 127.0.0.1:8080"),
    (["--bind", "0.0.0.0:1", "--token-file", "{root}/none"], {}, "--token-file {root}/none: No such file or directory"),
    (["--bind", "0.0.0.0:1", "--token-file", "{root}/t"], {"t": "short\n"},
     "--token-file {root}/t: the token must be at least 16 characters"),
    (["--bind", "0.0.0.0:1", "--users", "{root}/u"], {"u": "ops:plain-password\n"},
     "--users {root}/u:1: expected name:scrypt$... (hamaster web --hash-password makes the hash)"),
])
def test_bad_options_are_one_line_and_exit_2(site: Site, tmp_path: Path, args: list[str], files: dict[str, str],
                                              error: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = [a.format(root=tmp_path) for a in args]
    p = subprocess.run([HAMASTER, "web", "-c", site.config, *argv], capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stderr) == (2, f"hamaster: error: {error.format(root=tmp_path)}\n")
    assert "plain-password" not in p.stderr


def test_a_port_in_use_is_one_line(site: Site) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run([HAMASTER, "web", "-c", site.config, "--bind", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stderr) == (1, f"hamaster: error: --bind 127.0.0.1:{port}: in use by another process\n")
