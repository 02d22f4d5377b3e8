"""Title and body of an alert: Jinja2 in a sandbox, per incident kind.

Shipped defaults are templates/<kind>.j2 (default.j2 for the rest), each with a `title` and a `body` block.
`notify.templates.<kind>: {title: .., body: ..}` in master.yaml overrides either. Templates see the
incident's fields and data flattened (vip, old_holder, new_holder, gap, cause, old_priority, new_priority,
duration, nodes, started, timeline ...). A template that fails to compile is refused at start; one that
fails while rendering falls back to a plain message built from the incident's summary.
"""

import logging
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import human_duration, to_datetime

log = logging.getLogger("hamaster.notify")
_PARTS = ("title", "body")


def context(inc: Incident) -> dict[str, Any]:
    d = inc.data
    gap, duration = d.get("gap_ns"), d.get("duration_ns")
    return {
        **d,
        "id": inc.id, "kind": inc.kind, "instance": inc.instance, "severity": inc.severity,
        "summary": inc.summary, "nodes": inc.nodes, "planned": inc.planned, "job_id": inc.job_id, "data": d,
        "label": f"VIP {d['vip']}" if d.get("vip") else (inc.instance or ", ".join(inc.nodes)),
        "gap": human_duration(gap / 1e9) if gap else None,
        "duration": human_duration(duration / 1e9) if duration else None,
        "started": f"{to_datetime(inc.started_ns):%Y-%m-%d %H:%M:%S} UTC",
        "timeline": f"hamaster timeline --incident {inc.id}",
    }


class Renderer:
    def __init__(self, overrides: dict[str, Any], where: str = "master.yaml") -> None:
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
            return self.env.get_template(f"{kind}.j2")
        except jinja2.TemplateNotFound:
            return self.env.get_template("default.j2")

    def render(self, inc: Incident) -> tuple[str, str]:
        """-> (title, body); never raises: a broken template gives a plain message (and a log line)."""
        ctx = context(inc)
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
                text = plain(inc)[_PARTS.index(part)]
            out.append(text.strip())
        return out[0], out[1]


def plain(inc: Incident) -> tuple[str, str]:
    return (f"[{inc.severity}] {inc.kind}: {inc.instance or ', '.join(inc.nodes)}",
            f"{inc.summary}\nhamaster timeline --incident {inc.id}")
