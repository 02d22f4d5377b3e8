"""The `notify:` section of master.yaml, validated at start (every error names the field):

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

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import KINDS, SEVERITIES
from hamaster.notify import services
from hamaster.notify.services.ratelimit import TokenBucket

# info incidents (a start-up overlap of a few ms, a node back) are for the timeline; what they close still follows
DEFAULT_SEVERITIES = ("warning", "critical")
LANGUAGES = ("en", "zh")
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


def _strings(value: Any, where: str) -> list[str]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a name or a list of names")
    return value


def _target(i: int, raw: Any, where: str, base: Path) -> list[Target]:
    here = f"{where}: notify.targets[{i}]"
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, dict) or ("url" in raw) == ("config" in raw):
        raise ConfigError(f"{here}: expected a mapping with either 'url' or 'config'")
    tags = frozenset(_strings(raw.get("tags", []), f"{here}.tags"))
    if "config" in raw:
        path = Path(str(raw["config"]))
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ConfigError(f"{here}.config: {path}: no such file")
        conf = apprise.AppriseConfig()
        conf.add(str(path))
        bundle = apprise.Apprise()
        bundle.add(conf)
        plugins = list(bundle.find())
        if not plugins:
            raise ConfigError(f"{here}.config: {path}: apprise found no usable URL in it")
        return [_apprise_target(f"{path.name}#{j}", p, frozenset(p.tags) | tags, p.url(privacy=True), ())
                for j, p in enumerate(plugins)]
    url = raw["url"]
    if not isinstance(url, str):
        raise ConfigError(f"{here}.url: expected an apprise URL string")
    unknown = set(raw) - {"url", "tags", "name", *services.OPTIONS}
    if unknown:
        raise ConfigError(f"{here}: unknown field {sorted(unknown)[0]!r}")
    service = services.service_for(url, raw, here)
    if service is not None:
        name = raw.get("name") or f"{service.scheme}#{i}"
        return [Target(str(name), service, tags, service.masked(), service.secrets(), TokenBucket(*service.rate))]
    if set(raw) & set(services.OPTIONS):
        raise ConfigError(f"{here}: {sorted(set(raw) & set(services.OPTIONS))[0]} is only for"
                          f" {', '.join(services.SERVICES)} targets")
    apprise_log = logging.getLogger("apprise")
    apprise_log.disabled = True  # it logs a URL it cannot parse verbatim, tokens and all
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        apprise_log.disabled = False
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise ConfigError(f"{here}.url: apprise cannot use this URL (scheme {scheme!r}); see apprise's wiki")
    masked = plugin.url(privacy=True)
    name = raw.get("name") or f"{plugin.service_name or scheme_of(url)}#{i}"
    return [_apprise_target(str(name), plugin, tags, masked, _secrets(url, masked))]


def _apprise_target(name: str, plugin: Any, tags: frozenset[str], masked: str, secrets: tuple[str, ...]) -> Target:
    """Plain SMTP mail is sent by our services.Mail (no 5.5 s throttle, one TLS context, the server's reply
    read); every other plugin by apprise, at its own pace."""
    sender = services.own_sender(plugin)
    rate = MAIL_RATE if isinstance(sender, services.Mail) else OTHER_RATE
    return Target(name, sender, tags, masked, secrets, TokenBucket(*rate))


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0]


def _route(i: int, raw: Any, where: str) -> Route:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: notify.routes[{i}]: expected a mapping")
    name = raw.get("name", f"route{i}")
    here = f"{where}: notify.routes[{i}] ({name})"
    unknown = set(raw) - {"name", "tags", "kinds", "severities", "instances", "planned", "rate_limit"}
    if unknown:
        raise ConfigError(f"{here}: unknown field {sorted(unknown)[0]!r}")
    kinds = _strings(raw.get("kinds", list(KINDS)), f"{here}.kinds")
    severities = _strings(raw.get("severities", list(DEFAULT_SEVERITIES)), f"{here}.severities")
    for value, allowed, key in ((kinds, KINDS, "kinds"), (severities, SEVERITIES, "severities")):
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ConfigError(f"{here}.{key}: {bad[0]!r} is not one of {', '.join(allowed)}")
    if not isinstance(raw.get("planned", False), bool):
        raise ConfigError(f"{here}.planned: expected true or false")
    rate = raw.get("rate_limit") or {}
    if not isinstance(rate, dict) or not isinstance(rate.get("max", 1), int) \
            or not isinstance(rate.get("per_s", 60), int | float) or rate.get("max", 1) < 1:
        raise ConfigError(f"{here}.rate_limit: expected {{max: N, per_s: SECONDS}}")
    return Route(str(name), frozenset(_strings(raw.get("tags", ["all"]), f"{here}.tags")), frozenset(kinds),
                 frozenset(severities), tuple(_strings(raw.get("instances", []), f"{here}.instances")),
                 raw.get("planned", False), rate.get("max"), float(rate.get("per_s", 60)))


def load(section: dict[str, Any], where: str, base: Path) -> NotifyConfig:
    """Parse and check the notify section; `where` names master.yaml in errors, `base` resolves paths."""
    from hamaster.notify.render import Renderer  # compiles templates: refuse a broken one now

    if not isinstance(section, dict):
        raise ConfigError(f"{where}: notify: expected a mapping")
    unknown = set(section) - {"targets", "routes", "templates", "retry", "group_wait_s", "language", "timezone"}
    if unknown:
        raise ConfigError(f"{where}: notify.{sorted(unknown)[0]}: unknown field")
    raw_targets = section.get("targets") or []
    if not isinstance(raw_targets, list):
        raise ConfigError(f"{where}: notify.targets: expected a list")
    targets = [t for i, raw in enumerate(raw_targets) for t in _target(i, raw, where, base)]
    raw_routes = section.get("routes") or [{"name": "default", "tags": ["all"]}]
    if not isinstance(raw_routes, list):
        raise ConfigError(f"{where}: notify.routes: expected a list")
    routes = [_route(i, raw, where) for i, raw in enumerate(raw_routes)]
    known_tags = {tag for t in targets for tag in t.tags}
    for i, route in enumerate(routes):
        missing = sorted(route.tags - known_tags - {"all"})
        if missing:
            raise ConfigError(f"{where}: notify.routes[{i}] ({route.name}).tags: no target has tag {missing[0]!r}")
    retry_raw = section.get("retry") or {}
    try:
        retry = Retry(**{k: (int(v) if k == "max_attempts" else float(v)) for k, v in retry_raw.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: notify.retry: {exc}") from None
    language = section.get("language", "en")
    if language not in LANGUAGES:
        raise ConfigError(f"{where}: notify.language: expected one of {', '.join(LANGUAGES)}, got {language!r}")
    timezone = _timezone(section.get("timezone"), where)
    templates = section.get("templates") or {}
    Renderer(templates, where, language, timezone)
    group_wait = section.get("group_wait_s", 5.0)
    if isinstance(group_wait, bool) or not isinstance(group_wait, int | float) or group_wait < 0:
        raise ConfigError(f"{where}: notify.group_wait_s: expected a number of seconds, got {group_wait!r}")
    return NotifyConfig(targets, routes, templates, retry, float(group_wait), language, timezone)


def _timezone(name: Any, where: str) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: notify.timezone: {name!r} is not an IANA time zone"
                          " (e.g. Asia/Shanghai, UTC)") from None
