"""The dashboard's routes (Starlette, served by uvicorn from `hamaster web`), read-only over the store.

    /                  every VRRP group with its holder now, open incidents on top; live (/events)
    /timeline          the timeline with the CLI's filters (since, until, node, instance, kind), paged
    /incident/ID       the postmortem of an incident, as `hamaster postmortem ID` writes it
    /api/status        the status document (status.py), shaped like `hamaster status --json` plus groups
    /api/timeline      the same rows as the page, each as `hamaster timeline --format json` writes it
    /api/incidents/ID  the postmortem's content as JSON
    /events            server-sent events: `status` with the rendered section whenever it changed

Every answer carries a strict Content-Security-Policy (scripts and styles from /static only, nothing
inline, no frames); every string from the store goes through Jinja2's autoescape or the postmortem's
html.escape. Sync handlers run in Starlette's thread pool, each on a read-only connection of its own.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import tzinfo
from http.cookies import SimpleCookie
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError, StoreError
from hamaster.core.timeutil import human_duration, now_ns
from hamaster.master import store
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import postmortem as pm
from hamaster.master.timeline import rows as tl
from hamaster.master.web.auth import COOKIE, Guard
from hamaster.master.web.watch import Watcher

HERE = Path(__file__).parent
PAGE_ROWS = 200
KEEPALIVE_S = 15.0  # a comment on an idle event stream: proxies and browsers keep it open
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
       " base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cross-origin-opener-policy", b"same-origin")]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def templates(tz: tzinfo) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=False, lstrip_blocks=False)
    at = tf.time_formatter(tz)
    env.filters["when"] = lambda ns: at(int(ns)) if ns else ""
    env.filters["dur"] = lambda ns: human_duration(max(int(ns), 0) / 1e9)
    env.filters["offset"] = lambda ms: f"{ms:+.0f} ms" if abs(ms) < 1000 else f"{ms / 1000:+.1f} s"
    return env


class Dashboard:
    """What the routes share: the site's config, the watcher, the templates, who may read."""

    def __init__(self, cfg: MasterConfig, guard: Guard, tz: tzinfo, target_names: dict[str, str] | None = None):
        self.cfg, self.guard, self.tz = cfg, guard, tz
        self.target_names = target_names or {}
        self.env = templates(tz)
        fragment = self.env.get_template("_status.html")
        self.watcher = Watcher(cfg, lambda doc: fragment.render(doc=doc))
        self.site = cfg.path.parent.name or str(cfg.path.parent)

    def page(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(site=self.site, **context)
        return HTMLResponse(html, status_code=status_code)

    def error(self, status_code: int, title: str, message: str) -> HTMLResponse:
        return self.page("error.html", status_code, title=title, message=message)


def create_app(cfg: MasterConfig, guard: Guard, tz: tzinfo, target_names: dict[str, str] | None = None) -> ASGIApp:
    board = Dashboard(cfg, guard, tz, target_names)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        board.watcher.start()
        try:
            yield
        finally:
            board.watcher.stop()

    def status_doc() -> dict[str, Any] | None:
        board.watcher.wait_first(5.0)
        return board.watcher.doc

    def index(request: Request) -> Response:
        if status_doc() is None:
            return board.error(503, "No status yet", board.watcher.error or "the store is being read")
        w = board.watcher
        return board.page("index.html", title="status", fragment=w.fragment, version=w.version)

    def api_status(request: Request) -> Response:
        if status_doc() is None:
            return JSONResponse({"error": board.watcher.error or "no status yet"}, status_code=503)
        return Response(board.watcher.encoded(), media_type="application/json",
                        headers={"cache-control": "no-store"})

    async def events(request: Request) -> Response:
        queue = board.watcher.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                sent = -1
                while True:
                    if board.watcher.version != sent and board.watcher.doc is not None:
                        sent, message = board.watcher.event()
                        yield message
                    try:
                        await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                board.watcher.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    def timeline_page(request: Request) -> Response:
        form, query, first, error = _timeline_form(request)
        rows: list[tl.Row] = []
        more = False
        if error is None:
            assert query is not None
            try:
                rows, more = _read(cfg, lambda conn: _page(conn, query, first))
            except (StoreError, ConfigError) as exc:
                error = str(exc)
        at = tf.time_formatter(tz)
        shown = [{"cls": _row_class(r), "cells": (at(r.at_ns), *_describe(r, board.target_names)),
                  "incident": r.id if isinstance(r, tl.IncidentRow) else None} for r in rows]
        link = {k: v for k, v in form.items() if v}
        return board.page(
            "timeline.html", 400 if error else 200, title="timeline", form=form, error=error, rows=shown,
            first=first, columns=tf.COLUMNS,
            next_url=f"/timeline?{urlencode({**link, 'page': first // PAGE_ROWS + 1})}" if more else None,
            prev_url=f"/timeline?{urlencode({**link, 'page': first // PAGE_ROWS - 1})}" if first else None,
            api_url=f"/api/timeline?{urlencode({**link, 'page': first // PAGE_ROWS})}")

    def api_timeline(request: Request) -> Response:
        form, query, first, error = _timeline_form(request)
        if error is not None:
            return JSONResponse({"error": error}, status_code=400)
        assert query is not None
        try:
            rows, more = _read(cfg, lambda conn: _page(conn, query, first))
        except (StoreError, ConfigError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        link = {k: v for k, v in form.items() if v}
        out = [_row_json(r, board.target_names) for r in rows]
        return JSONResponse({"rows": out, "page": first // PAGE_ROWS,
                             "next": f"/api/timeline?{urlencode({**link, 'page': first // PAGE_ROWS + 1})}"
                             if more else None})

    def _report(incident_id: int, request: Request) -> pm.Report:
        context = request.query_params.get("context", "")
        return _read(cfg, lambda conn: pm.incident_report(conn, incident_id, context or None))

    def incident_page(request: Request) -> Response:
        iid = int(request.path_params["incident_id"])
        try:
            report = _report(iid, request)
        except (StoreError, ConfigError) as exc:
            return board.error(404, f"Incident {iid}", str(exc))
        body = pm.html_body(report, tz, board.target_names)
        return board.page("incident.html", title=f"incident {iid}", body=body, incident_id=iid)

    def api_incident(request: Request) -> Response:
        iid = int(request.path_params["incident_id"])
        try:
            report = _report(iid, request)
        except (StoreError, ConfigError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(pm.report_json(report, tz, board.target_names))

    routes = [
        Route("/", index), Route("/timeline", timeline_page), Route("/incident/{incident_id:int}", incident_page),
        Route("/api/status", api_status), Route("/api/timeline", api_timeline),
        Route("/api/incidents/{incident_id:int}", api_incident), Route("/events", events),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = board
    return _secured(app, guard)


def _read(cfg: MasterConfig, reader: Callable[[store.Connection], Any]) -> Any:
    conn = store.connect(cfg.store, readonly=True)
    try:
        return reader(conn)
    finally:
        conn.close()


def _timeline_form(request: Request) -> tuple[dict[str, str], tl.Query | None, int, str | None]:
    """The filters of /timeline as the CLI takes them: since (default 24h, as the CLI's), until, node (comma list or
    repeated), instance, kind; and page. -> (the form's values, the query, first row, error)."""
    p = request.query_params
    form = {"since": p.get("since", "24h"), "until": p.get("until", ""),
            "node": ",".join(n for v in p.getlist("node") for n in v.split(",") if n.strip()),
            "instance": p.get("instance", ""), "kind": p.get("kind", "")}
    try:
        page = max(int(p.get("page", "0")), 0)
    except ValueError:
        return form, None, 0, "page: expected a number"
    now = now_ns()
    try:
        since = tl.parse_when(form["since"], now, option="since") if form["since"] else None
        until = tl.parse_when(form["until"], now, option="until") if form["until"] else None
        kinds = tl.parse_kinds(form["kind"] or None)
    except ConfigError as exc:
        return form, None, 0, str(exc).replace("--kind", "kind")
    if since is not None and until is not None and until <= since:
        return form, None, 0, "until: must be after since"
    nodes = tuple(n.strip() for n in form["node"].split(",") if n.strip())
    q = tl.Query(since_ns=since, until_ns=until, nodes=nodes, instance=form["instance"] or None, kinds=kinds)
    return form, q, page * PAGE_ROWS, None


def _page(conn: store.Connection, q: tl.Query, first: int) -> tuple[list[tl.Row], bool]:
    rows = list(islice(tl.timeline(conn, q), first, first + PAGE_ROWS + 1))
    return rows[:PAGE_ROWS], len(rows) > PAGE_ROWS


def _row_class(r: tl.Row) -> str:
    cls = type(r).__name__.removesuffix("Row").lower()
    return cls + (" late" if isinstance(r, tl.EventRow) and r.late else "")


def _describe(r: tl.Row, names: dict[str, str]) -> tuple[str, ...]:
    if isinstance(r, tl.AlertRow):
        r = replace(r, target=pm.target_label(r.target, names))
    return tf.describe(r)


def _row_json(r: tl.Row, names: dict[str, str]) -> dict[str, Any]:
    out = tf.to_json(r)
    if isinstance(r, tl.AlertRow):
        out["target"] = pm.target_label(r.target, names)
    return out


def _secured(app: ASGIApp, guard: Guard) -> ASGIApp:
    """Security headers on every answer; without credentials, 401 (and a basic-auth challenge when users are
    configured). `/?token=...` sets the token cookie and redirects to the address without it."""

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        cookies = {k: m.value for k, m in SimpleCookie(headers.get(b"cookie", b"").decode("latin-1")).items()}
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        if guard.token_in_query(query):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            response: Response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, str(guard.token), httponly=True, samesite="strict", path="/")
            await response(scope, receive, send_secured)
            return
        if not guard.allows(headers, cookies):
            challenge = {"www-authenticate": 'Basic realm="hamaster", charset="UTF-8"'} if guard.users else {}
            response = Response("credentials needed: a token (Authorization: Bearer) or a user of --users\n",
                                status_code=401, media_type="text/plain", headers=challenge)
            await response(scope, receive, send_secured)
            return
        await app(scope, receive, send_secured)

    return secured
