"""Reactor rules (`reactor:` in master.yaml): a pattern on what happened -> an action.

    reactor:
      # page the database team for any split brain of their VIPs, whatever the routes say
      - match: incident/split_brain/VI_DB*
        notify: dba
      # re-apply nginx on the node that went FAULT (see below)
      - match: vrrp/*/FAULT
        state: nginx
        target: "{minion}"

Patterns are shell globs on tags: `incident/<kind>/<instance or node>` for incidents and the event tags of
events.py (`vrrp/<instance>/<STATE>`, `beacon/...`) for events.

`notify: ROUTE` is done here: an incident whose tag matches is sent on that route even when the route's
own kinds/severities/instances would not select it; silences, planned and flap suppression still apply.

`state: SLS, target: "{minion}"` is the master's part (jobs): on a matching event the master runs the
state on the target (the event's minion by default), as `hamaster apply` would, at most once per rule and
target per `cooldown_s` (default 300) so a flapping node cannot loop; the job is recorded like any apply,
so what it causes is marked planned. This module only validates those rules and leaves them to the master.
"""

import fnmatch
from dataclasses import dataclass
from typing import Any

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import Incident


@dataclass(frozen=True)
class Rule:
    match: str
    notify: str | None = None
    state: str | None = None
    target: str = "{minion}"
    cooldown_s: float = 300.0


class Reactor:
    def __init__(self, raw: list[Any], route_names: set[str], where: str = "master.yaml") -> None:
        self.rules: list[Rule] = []
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: reactor: expected a list of rules")
        for i, r in enumerate(raw):
            here = f"{where}: reactor[{i}]"
            if not isinstance(r, dict) or not isinstance(r.get("match"), str):
                raise ConfigError(f"{here}: expected a mapping with 'match: PATTERN'")
            unknown = set(r) - {"match", "notify", "state", "target", "cooldown_s"}
            if unknown:
                raise ConfigError(f"{here}: unknown field {sorted(unknown)[0]!r}")
            if ("notify" in r) == ("state" in r):
                raise ConfigError(f"{here}: give exactly one action, 'notify: ROUTE' or 'state: SLS'")
            if "notify" in r and r["notify"] not in route_names:
                raise ConfigError(f"{here}.notify: no route named {r['notify']!r} in notify.routes")
            self.rules.append(Rule(r["match"], r.get("notify"), r.get("state"), str(r.get("target", "{minion}")),
                                   float(r.get("cooldown_s", 300))))

    @staticmethod
    def tag_of(inc: Incident) -> str:
        return f"incident/{inc.kind}/{inc.instance or ','.join(inc.nodes)}"

    def state_rules_for(self, tag: str) -> list[Rule]:
        """The `state:` rules an event or incident tag matches (the master runs them as jobs)."""
        return [r for r in self.rules if r.state and fnmatch.fnmatchcase(tag, r.match)]

    def routes_for(self, inc: Incident) -> set[str]:
        tag = self.tag_of(inc)
        return {r.notify for r in self.rules if r.notify and fnmatch.fnmatchcase(tag, r.match)}
