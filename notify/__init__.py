"""Alerts: routes and templates over apprise, and the durable outbox that delivers them.

    config.py    the `notify:` section of master.yaml -> targets, routes, templates, retry (checked at start)
    render.py    Jinja2 (sandboxed) title and body per incident kind; defaults in templates/*.j2
    reactor.py   reactor rules: incident/event patterns -> a route (or a state, run by the master)
    outbox.py    incidents -> deliveries (silences, planned, inhibition, flapping, rate limits) -> attempts
    notifier.py  the worker thread the master daemon starts: Notifier(...).start() / submit() / stop()
    services/    our own senders where apprise's cannot tell a refusal: DingTalk, WeCom, Feishu/Lark, mail
"""

from hamaster.notify.notifier import Notifier

__all__ = ["Notifier"]
