"""service.running, service.dead, and what a watch triggers (reload, or restart when the state asks).

Through systemd when it is PID 1 and the state gives no `commands`; otherwise through the state's own
`commands: {start, stop, reload, status}` (containers, the network-namespace lab), where `status` exits 0
while the service runs. keepalived and nginx both reload in place: a watch reloads unless the state says
`on_watch: restart` or has no way to reload.
"""

import time
from typing import Any

from hamaster.minion.statemods import Ctx, Done, Ret, run

SETTLE_S = 5.0  # how long a started or stopped service may take to show it in `status`


class _Service:
    def __init__(self, ctx: Ctx, name: str, commands: dict[str, str] | None) -> None:
        self.name, self.commands = name, dict(commands or {})
        self.systemd = ctx.systemd and not self.commands

    def usable(self) -> str | None:
        if self.systemd:
            return None
        missing = [k for k in ("start", "stop", "status") if not self.commands.get(k)]
        if missing:
            how = "PID 1 is not systemd" if not self.commands else f"commands lack {', '.join(missing)}"
            return f"cannot manage {self.name}: {how} (give commands: {{start, stop, reload, status}})"
        return None

    def do(self, action: str) -> Done:
        if self.systemd:
            return run(["systemctl", action, self.name])
        return run(self.commands[action])

    def running(self) -> bool:
        return (run(["systemctl", "is-active", "--quiet", self.name]) if self.systemd else self.do("status")).ok

    def settle(self, want: bool) -> bool:
        """Poll status until it says `want`, for at most SETTLE_S (daemons fork before they are ready)."""
        deadline = time.monotonic() + SETTLE_S
        for _ in range(100):
            if self.running() == want:
                return True
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return False

    def can_reload(self) -> bool:
        return self.systemd or bool(self.commands.get("reload"))


def running(ctx: Ctx, name: str, enable: bool | None = None, commands: dict[str, str] | None = None,
            on_watch: str = "reload") -> Ret:
    svc = _Service(ctx, name, commands)
    if on_watch not in ("reload", "restart"):
        return Ret(False, f"on_watch must be reload or restart, got {on_watch!r}")
    if problem := svc.usable():
        return Ret(False, problem)
    changes: dict[str, Any] = {}
    notes = []
    if enable is not None and svc.systemd:
        enabled = run(["systemctl", "is-enabled", "--quiet", name]).ok
        if enabled != enable:
            changes["enabled"] = {"old": enabled, "new": enable}
            if not ctx.test:
                done = svc.do("enable" if enable else "disable")
                if not done.ok:
                    return Ret(False, f"systemctl {'enable' if enable else 'disable'} {name}: {done.tail()}")
    elif enable is not None:
        notes.append("enable ignored without systemd")
    if svc.running():
        comment = f"Service {name} is already running"
        return Ret(None if ctx.test and changes else True, "; ".join([comment, *notes]), changes)
    changes[name] = {"old": "dead", "new": "running"}
    if ctx.test:
        return Ret(None, f"Service {name} is set to start", changes)
    done = svc.do("start")
    if not done.ok:
        return Ret(False, f"Service {name} failed to start (exit {done.code}):\n{done.tail()}", changes)
    if not svc.settle(True):
        return Ret(False, f"Service {name} was started but its status does not say running", changes)
    return Ret(True, "; ".join([f"Started service {name}", *notes]), changes)


def dead(ctx: Ctx, name: str, enable: bool | None = None, commands: dict[str, str] | None = None) -> Ret:
    svc = _Service(ctx, name, commands)
    if problem := svc.usable():
        return Ret(False, problem)
    changes: dict[str, Any] = {}
    if enable is not None and svc.systemd and run(["systemctl", "is-enabled", "--quiet", name]).ok != enable:
        changes["enabled"] = {"old": not enable, "new": enable}
        if not ctx.test:
            svc.do("enable" if enable else "disable")
    if not svc.running():
        return Ret(None if ctx.test and changes else True, f"Service {name} is already dead", changes)
    changes[name] = {"old": "running", "new": "dead"}
    if ctx.test:
        return Ret(None, f"Service {name} is set to stop", changes)
    done = svc.do("stop")
    if not done.ok or not svc.settle(False):
        return Ret(False, f"Service {name} failed to stop (exit {done.code}):\n{done.tail()}", changes)
    return Ret(True, f"Stopped service {name}", changes)


def mod_watch(ctx: Ctx, name: str, enable: bool | None = None, commands: dict[str, str] | None = None,
              on_watch: str = "reload") -> Ret:
    """A watched state changed: reload the running service (restart if asked, or if it cannot reload)."""
    svc = _Service(ctx, name, commands)
    if not svc.running():
        return Ret(False, f"Service {name} is not running: nothing to {on_watch}")
    action = "reload" if on_watch == "reload" and svc.can_reload() else "restart"
    if ctx.test:
        return Ret(None, f"Service {name} is set to {action}", {name: f"{action}ed"})
    if action == "restart" and not svc.systemd and not svc.commands.get("restart"):
        done = svc.do("stop")
        if done.ok and svc.settle(False):
            done = svc.do("start")
    else:
        done = svc.do(action)
    if not done.ok:
        return Ret(False, f"Service {name} failed to {action} (exit {done.code}):\n{done.tail()}")
    if not svc.settle(True):
        return Ret(False, f"Service {name} is not running after {action}")
    return Ret(True, f"Service {name} {action}ed", {name: f"{action}ed"})
