"""Title and body of an alert: Jinja2 in a sandbox, per incident kind.

Shipped defaults are templates/<kind>.j2 in English and templates/zh/<kind>.j2 in Chinese
(`notify.language`), default.j2 for the rest, each with a `title` and a `body` block.
`notify.templates.<kind>: {title: .., body: ..}` in master.yaml overrides either, in any language.
Templates see the incident's fields and data flattened (vip, old_holder, new_holder, gap, cause,
old_priority, new_priority, duration, nodes, started, timeline ...), with durations and times written in
the language's conventions and times in `notify.timezone` (default the master's). A template that fails
to compile is refused at start; one that fails while rendering falls back to a plain message built from
the incident's summary.
"""

import logging
import re
from datetime import timedelta, tzinfo
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import EN_UNITS, human_duration, human_span, to_datetime

log = logging.getLogger("hamaster.notify")
_PARTS = ("title", "body")


SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}
KIND_ZH = {"failover": "主备切换", "split_brain": "脑裂", "no_master": "没有 MASTER", "flapping": "频繁切换",
           "node_silent": "节点失联", "node_back": "节点恢复", "recovered": "已恢复", "stale_vip": "VIP 残留",
           "clock_offset": "时钟偏差", "sync_split": "同步组分裂"}


ZH_UNITS = ("毫秒", "秒", "分", "分钟", "小时")


def duration_zh(seconds: float) -> str:
    """600 毫秒, 3.4 秒, 3 分 12 秒, 2 小时 5 分钟 (a space between digits and Chinese, as tech writing has it)."""
    return human_duration(seconds, ZH_UNITS)


def zone_label(offset: timedelta | None) -> str:
    """UTC, UTC+8, UTC-3:30: unambiguous where abbreviations are not (CST is China, Cuba and US Central)."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def when(ns: int, tz: tzinfo | None, language: str = "en", full: bool = True) -> str:
    """2025-06-15 23:06:45（UTC+8）, or only 23:06:45 inside a sentence (the footer has the date and zone)."""
    dt = to_datetime(ns).astimezone(tz)  # tz None: the master's local zone
    if not full:
        return f"{dt:%H:%M:%S}"
    zone = zone_label(dt.utcoffset())
    return f"{dt:%Y-%m-%d %H:%M:%S}（{zone}）" if language == "zh" else f"{dt:%Y-%m-%d %H:%M:%S} {zone}"


# the correlator's causes (Transition.cause() and the failover's BACKUP form) -> Chinese
_CAUSES_ZH = [
    (re.compile(r"^(?P<n>\S+) silent \(last heard (?P<t>[\d:]+) UTC\)$"), "{n} 失联（最后一次心跳：{t}）"),
    (re.compile(r"^(?P<n>\S+) BACKUP \(priority (?P<a>\d+) vs (?P<b>\d+)\)$"),
     "{n} 转为 BACKUP（优先级 {a}，对端 {b}）"),
    (re.compile(r"^(?P<n>\S+) FAULT(?: \(priority (?P<p>\d+)\))?$"), "{n} 进入 FAULT 状态{p}"),
    (re.compile(r"^(?P<n>\S+) BACKUP(?: \(priority (?P<p>\d+)\))?$"), "{n} 转为 BACKUP{p}"),
    (re.compile(r"^(?P<n>\S+) STOP(?: \(priority (?P<p>\d+)\))?$"), "{n} 上的 keepalived 已停止{p}"),
    (re.compile(r"^keepalived on (?P<n>\S+) died without a STOP \(killed or crashed\)$"),
     "{n} 上的 keepalived 异常退出，未发出 STOP（被杀掉或崩溃）"),
    (re.compile(r"^unknown$"), "原因不明"),
]


def cause_zh(cause: str | None, near_ns: int, tz: tzinfo | None) -> str | None:
    """A cause in Chinese, its UTC time of day in `tz` (the day is the one up to `near_ns`); one the
    correlator words differently is kept as it is (English beats a guess)."""
    if not cause:
        return cause
    for pattern, text in _CAUSES_ZH:
        m = pattern.match(cause)
        if m:
            parts = {k: v or "" for k, v in m.groupdict().items()}
            if parts.get("p"):
                parts["p"] = f"（优先级 {parts['p']}）"
            if parts.get("t"):
                parts["t"] = _utc_time_in(parts["t"], near_ns, tz)
            return text.format(**parts)
    return cause


def _utc_time_in(hms: str, near_ns: int, tz: tzinfo | None) -> str:
    near = to_datetime(near_ns)
    h, m, sec = (int(x) for x in hms.split(":"))
    at = near.replace(hour=h, minute=m, second=sec, microsecond=0)
    if at > near:
        at -= timedelta(days=1)
    return f"{at.astimezone(tz):%H:%M:%S}"


def vips_of(data: dict[str, Any]) -> list[str]:
    """The group's VIPs: the minion's config facts (data.vips), or the one VIP of correlator.instances."""
    vips = data.get("vips") or ([data["vip"]] if data.get("vip") else [])
    return [str(v) for v in vips]


def label(inc: Incident, language: str = "en", most: int = 2) -> str:
    """What an alert is about, for its title: `VIP 192.168.16.130 (VI_1, VRID 51)`; the instance alone
    while the VIPs are unknown (`VI_1 (VRID 51)`, `VI_1`), the nodes for what concerns no instance."""
    vips, vrid, instance = vips_of(inc.data), inc.data.get("vrid"), inc.instance
    if not vips and not instance:
        return ", ".join(inc.nodes)
    zh = language == "zh"
    vrid_s = f"VRID {vrid}" if vrid is not None else None
    if not vips:
        return f"{instance}（{vrid_s}）" if zh and vrid_s else f"{instance} ({vrid_s})" if vrid_s else f"{instance}"
    shown = ("、" if zh else ", ").join(vips[:most])
    if len(vips) > most:
        shown += f" 等 {len(vips)} 个" if zh else f" +{len(vips) - most}"
    head = f"VIP {shown}" if zh or len(vips) == 1 else f"VIPs {shown}"
    aside = [a for a in (instance if instance not in vips else None, vrid_s) if a]
    if not aside:
        return head
    return f"{head}（{'，'.join(aside)}）" if zh else f"{head} ({', '.join(aside)})"


def vrrp_line(inc: Incident, language: str = "en") -> str | None:
    """The body's full account of the VRRP group (every VIP, the VRID), or None while neither is known
    (the title's instance says all there is)."""
    vips, vrid, instance = vips_of(inc.data), inc.data.get("vrid"), inc.instance
    if not vips and vrid is None:
        return None
    if language == "zh":
        parts = [f"实例 {instance}" if instance else None, f"VRID {vrid}" if vrid is not None else None,
                 f"VIP {'、'.join(vips)}" if vips else None]
        return "VRRP：" + "，".join(p for p in parts if p) + "。"
    parts = [f"instance {instance}" if instance else None, f"VRID {vrid}" if vrid is not None else None,
             f"VIP{'s' if len(vips) > 1 else ''} {', '.join(vips)}" if vips else None]
    return "VRRP: " + ", ".join(p for p in parts if p) + "."


def context(inc: Incident, language: str = "en", tz: tzinfo | None = None) -> dict[str, Any]:
    d = inc.data
    gap, duration = d.get("gap_ns"), d.get("duration_ns")
    say = duration_zh if language == "zh" else human_duration
    ctx = {
        **d,
        "id": inc.id, "kind": inc.kind, "instance": inc.instance, "severity": inc.severity,
        "summary": inc.summary, "nodes": inc.nodes, "planned": inc.planned, "job_id": inc.job_id, "data": d,
        "vips": vips_of(d), "vrid": d.get("vrid"),
        "label": label(inc, language),
        "vrrp": vrrp_line(inc, language),
        "gap": say(gap / 1e9) if gap else None,  # (a range when the death was only bracketed: below)
        "duration": say(duration / 1e9) if duration else None,
        "started": when(inc.started_ns, tz, language),
        "started_time": when(inc.started_ns, tz, language, full=False),
        "timeline": f"hamaster timeline --incident {inc.id}",
        "language": language,
    }
    span = d.get("gap_range_ns")
    if gap and isinstance(span, list) and len(span) == 2 and span[0] != span[1]:
        ctx["gap"] = human_span(span[0] / 1e9, span[1] / 1e9, ZH_UNITS if language == "zh" else EN_UNITS)
    if d.get("last_seen_ns"):
        ctx["last_seen"] = when(d["last_seen_ns"], tz, language, full=False)
    if d.get("silent_since_ns"):
        ctx["silence"] = say(max(0, inc.started_ns - d["silent_since_ns"]) / 1e9)
    if language == "zh":
        ctx["severity_label"] = SEVERITY_ZH.get(inc.severity, inc.severity)
        ctx["kind_label"] = KIND_ZH.get(inc.kind, inc.kind.replace("_", " "))
        ctx["cause"] = cause_zh(d.get("cause"), inc.started_ns, tz)
    return ctx


class Renderer:
    def __init__(self, overrides: dict[str, Any], where: str = "master.yaml", language: str = "en",
                 tz: tzinfo | None = None) -> None:
        self.language, self.tz = language, tz
        self.prefix = "" if language == "en" else f"{language}/"
        self.env = SandboxedEnvironment(loader=jinja2.PackageLoader("hamaster.notify", "templates"),
                                        undefined=jinja2.ChainableUndefined, keep_trailing_newline=False,
                                        autoescape=False)
        self.custom: dict[tuple[str, str], jinja2.Template] = {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}: notify.templates: expected a mapping of incident kind -> title/body")
        for kind, parts in overrides.items():
            if not isinstance(parts, dict) or set(parts) - set(_PARTS):
                raise ConfigError(f"{where}: notify.templates.{kind}: expected a mapping with title and/or body")
            for part, text in parts.items():
                try:
                    self.custom[(kind, part)] = self.env.from_string(str(text))
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(f"{where}: notify.templates.{kind}.{part}: line {exc.lineno}:"
                                      f" {exc.message}") from None

    def _default(self, kind: str) -> jinja2.Template:
        try:
            return self.env.get_template(f"{self.prefix}{kind}.j2")
        except jinja2.TemplateNotFound:
            return self.env.get_template(f"{self.prefix}default.j2")

    def render(self, inc: Incident) -> tuple[str, str]:
        """-> (title, body); never raises: a broken template gives a plain message (and a log line)."""
        ctx = context(inc, self.language, self.tz)
        out = []
        for part in _PARTS:
            try:
                custom = self.custom.get((inc.kind, part))
                if custom is not None:
                    text = custom.render(ctx)
                else:
                    tmpl = self._default(inc.kind)
                    text = "".join(tmpl.blocks[part](tmpl.new_context(ctx)))
            except Exception as exc:  # any template bug: jinja2 and the sandbox raise many types
                log.error("template %s.%s failed for incident %s: %s: %s; sending a plain message",
                          inc.kind, part, inc.id, type(exc).__name__, exc)
                text = plain(inc, self.language)[_PARTS.index(part)]
            out.append(_cjk_spacing(text.strip()) if self.language == "zh" else text.strip())
        return out[0], out[1]


# full-width punctuation carries its own space: "VIP 10.0.0.1（VI_1）主备切换", not "（VI_1） 主备切换"
_AFTER_FULL_WIDTH = re.compile(r"([）】，。：；、]) +(?=[^\x00-\x7f])")


def _cjk_spacing(text: str) -> str:
    return _AFTER_FULL_WIDTH.sub(r"\1", text)


def plain(inc: Incident, language: str = "en") -> tuple[str, str]:
    where = label(inc, language)
    if language == "zh":
        return (f"【{SEVERITY_ZH.get(inc.severity, inc.severity)}】{KIND_ZH.get(inc.kind, inc.kind)}：{where}",
                f"{inc.summary}\n查看完整经过：hamaster timeline --incident {inc.id}")
    return (f"[{inc.severity}] {inc.kind}: {where}", f"{inc.summary}\nhamaster timeline --incident {inc.id}")
