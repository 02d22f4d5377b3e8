"""The `notify:` section of master.yaml (its schema: core/schema.py), built at start (every error names the field):

    notify:
      targets:                              # apprise URLs, each with tags; or an apprise config file
        - {url: "json://chat.example/hook", tags: [chat]}
        - {url: "mailto://smtp.example?from=ha@example&to=ops@example", tags: [mail]}
        - {config: apprise.yml}             # tags come from the file
        - url: dingtalk://SECRET@TOKEN      # also wecombot://KEY, feishu://[SECRET@]TOKEN, lark://TOKEN:
          base_url: https://oapi.dingtalk.com   # our own senders (services/), which read the reply body;
          keyword: 告警                     # the bot's security keyword, added when a message lacks it
          at: ["13800000000", all]          # mobiles or user ids to mention; all = everyone
          tags: [chat]
      routes:                               # incidents -> tags (default: one route to every target)
        - name: oncall
          tags: [chat, mail]
          kinds: [failover, split_brain, no_master, flapping, node_silent]   # default: all
          severities: [warning, critical]   # default: warning and critical (info rows stay in the timeline)
          instances: ["VI_*"]               # globs; default: all
          planned: false                    # send incidents caused by `hamaster apply`? default false
          rate_limit: {max: 10, per_s: 60}  # incidents per window on this route; more are suppressed
          fallback: phone                   # a critical incident whose delivery here is given up (refused
                                            # for good or out of attempts) is sent on route `phone` too
      templates:                            # Jinja2 (sandboxed) per incident kind; defaults in templates/
        failover: {title: "{{ vip or instance }}: {{ old_holder }} -> {{ new_holder }}", body: "..."}
      retry: {max_attempts: 8, backoff_s: 1, max_backoff_s: 300}
      group_wait_s: 5                       # a node_silent alert waits this long for a failover that names it
      language: zh                          # zh or en (default): titles and bodies of the shipped templates
      timezone: Asia/Shanghai               # for times in messages; default the master's own

A `recovered` incident also goes wherever the incident it closes went, so what was opened gets closed.
Targets are only ever shown masked (as apprise prints them with privacy=True, or as services/ masks its
own): tokens, secrets and passwords never appear.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise

from hamaster.core import schema
from hamaster.core.errors import ConfigError, ConfigFileError
from hamaster.core.incidents import KINDS
from hamaster.core.schema import DEFAULT_SEVERITIES
from hamaster.notify import services
from hamaster.notify.services.ratelimit import TokenBucket

# our TokenBucket per target (burst, then per second): a failover's alerts at once, a storm spread out
MAIL_RATE = (10, 1.0)
OTHER_RATE = (20, 5.0)  # apprise targets other than mail (which keep apprise's own pacing as well)


@dataclass
class Target:
    name: str
    plugin: Any  # apprise's NotifyBase for this one URL, or our own sender (services.OWN)
    tags: frozenset[str]
    masked: str
    secrets: tuple[str, ...] = ()  # parts of the URL that privacy=True hides: scrubbed from error texts
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(*OTHER_RATE))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text


@dataclass(frozen=True)
class Route:
    name: str
    tags: frozenset[str]
    kinds: frozenset[str] = frozenset(KINDS)
    severities: frozenset[str] = frozenset(DEFAULT_SEVERITIES)
    instances: tuple[str, ...] = ()
    planned: bool = False
    rate_max: int | None = None
    rate_per_s: float = 60.0
    fallback: str | None = None  # the route of a critical incident whose delivery here was given up


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = 300.0

    def delay_s(self, attempts: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempts - 1)))


@dataclass
class NotifyConfig:
    targets: list[Target]
    routes: list[Route]
    templates: dict[str, dict[str, str]] = field(default_factory=dict)
    retry: Retry = field(default_factory=Retry)
    group_wait_s: float = 5.0  # how long a node_silent alert waits for the failover that would say it all
    language: str = "en"
    timezone: tzinfo | None = None  # None: the master's local time

    def targets_for(self, route: Route) -> list[Target]:
        return [t for t in self.targets if "all" in route.tags or t.tags & route.tags]


def _secrets(url: str, masked: str) -> tuple[str, ...]:
    parts = {p for p in re.split(r"[/:@?&=,#]+", url) if len(p) >= 4 and p not in masked}
    return tuple(sorted(parts, key=len, reverse=True))


def _target(i: int, raw: schema.Target, where: str, base: Path) -> list[Target]:
    here = f"{where}: notify.targets[{i}]"
    tags = frozenset(raw.tags)
    if raw.config is not None:
        path = Path(raw.config)
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ConfigFileError(f"{here}.config: {path}: no such file")
        conf = apprise.AppriseConfig()
        conf.add(str(path))
        bundle = apprise.Apprise()
        bundle.add(conf)
        plugins = list(bundle.find())
        if not plugins:
            raise ConfigFileError(f"{here}.config: {path}: apprise found no usable URL in it")
        # apprise gives a file's tags as its own AppriseTag objects: names, as ours are
        return [_apprise_target(f"{path.name}#{j}", p, frozenset(str(t) for t in p.tags) | tags,
                                p.url(privacy=True), ()) for j, p in enumerate(plugins)]
    url = str(raw.url)
    options = {k: v for k in services.OPTIONS if (v := getattr(raw, k)) is not None}
    try:
        service = services.service_for(url, options, here)
    except ConfigError as exc:  # the file is wrong, as for any other field
        raise ConfigFileError(str(exc)) from None
    if service is not None:
        name = raw.name or f"{service.scheme}#{i}"
        return [Target(str(name), service, tags, service.masked(), service.secrets(), TokenBucket(*service.rate))]
    if options:
        raise ConfigFileError(f"{here}: {sorted(options)[0]} is only for {', '.join(services.SERVICES)} targets")
    apprise_log = logging.getLogger("apprise")
    apprise_log.disabled = True  # it logs a URL it cannot parse verbatim, tokens and all
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        apprise_log.disabled = False
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise ConfigFileError(f"{here}.url: apprise cannot use this URL (scheme {scheme!r}); see apprise's wiki")
    masked = plugin.url(privacy=True)
    name = raw.name or f"{plugin.service_name or scheme_of(url)}#{i}"
    return [_apprise_target(str(name), plugin, tags, masked, _secrets(url, masked))]


def _apprise_target(name: str, plugin: Any, tags: frozenset[str], masked: str, secrets: tuple[str, ...]) -> Target:
    """Plain SMTP mail is sent by our services.Mail (no 5.5 s throttle, one TLS context, the server's reply
    read); every other plugin by apprise, at its own pace."""
    sender = services.own_sender(plugin)
    rate = MAIL_RATE if isinstance(sender, services.Mail) else OTHER_RATE
    return Target(name, sender, tags, masked, secrets, TokenBucket(*rate))


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0]


def _route(i: int, raw: schema.Route) -> Route:
    rate = raw.rate_limit or schema.RateLimit()
    return Route(raw.name or f"route{i}", frozenset(raw.tags), frozenset(raw.kinds), frozenset(raw.severities),
                 tuple(raw.instances), raw.planned, rate.max, rate.per_s, raw.fallback)


def _check_fallbacks(routes: list[Route], where: str) -> None:
    """Every fallback names another route, and following them never comes back (a loop would resend forever)."""
    by_name = {r.name: r for r in routes}
    for i, route in enumerate(routes):
        if route.fallback is None:
            continue
        if route.fallback not in by_name:
            raise ConfigFileError(f"{where}: notify.routes[{i}].fallback: no route named {route.fallback!r}"
                                  f" (routes: {', '.join(sorted(by_name))})")
        seen, at = [route.name], by_name[route.fallback]
        while True:
            if at.name in seen:
                raise ConfigFileError(f"{where}: notify.routes[{i}].fallback: a loop ({' -> '.join([*seen, at.name])})")
            if at.fallback not in by_name:  # none, or unknown (refused at that route's turn)
                break
            seen.append(at.name)
            at = by_name[at.fallback]


def load(section: "schema.Notify | dict[str, Any]", where: str, base: Path) -> NotifyConfig:
    """Build the notify section (checked by the schema; a plain mapping is checked here): apprise must be able to
    use every URL, every route's tags must name a target, templates must compile. `where` names master.yaml in
    errors, `base` resolves paths."""
    from hamaster.notify.render import Renderer  # compiles templates: refuse a broken one now

    if not isinstance(section, schema.Notify):
        section = schema.convert(section if section is not None else {}, schema.Notify, where, prefix="notify")
    assert isinstance(section, schema.Notify)  # (for mypy: convert gives what it was asked for)
    given = [schema.Target(url=t) if isinstance(t, str) else t for t in section.targets]  # (the schema did it)
    targets = [t for i, raw in enumerate(given) for t in _target(i, raw, where, base)]
    routes = [_route(i, raw) for i, raw in enumerate(section.routes or [schema.Route(name="default")])]
    known_tags = {tag for t in targets for tag in t.tags}
    for i, route in enumerate(routes):
        missing = sorted(route.tags - known_tags - {"all"})
        if missing:
            raise ConfigFileError(f"{where}: notify.routes[{i}].tags: no target has tag {missing[0]!r} "
                              f"(route {route.name}; targets have: {', '.join(sorted(known_tags)) or 'none'})")
    _check_fallbacks(routes, where)
    retry = Retry(section.retry.max_attempts, section.retry.backoff_s, section.retry.max_backoff_s)
    templates = {kind: dict(parts) for kind, parts in section.templates.items()}
    timezone = _timezone(section.timezone, where)
    try:
        Renderer(templates, where, section.language, timezone)
    except ConfigError as exc:  # a template that does not compile: the file is wrong, as for any field
        raise ConfigFileError(str(exc)) from None
    return NotifyConfig(targets, routes, templates, retry, section.group_wait_s, section.language, timezone)


def _timezone(name: str | None, where: str) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigFileError(f"{where}: notify.timezone: {name!r} is not an IANA time zone"
                              " (e.g. Asia/Shanghai, UTC)") from None
