"""State modules: what a minion does for each chunk of a job.

A state function is `fun(ctx, name, **args) -> Ret`. It checks, says "already right" when nothing is to do,
predicts in test mode (result None, nothing touched), acts, and reports `changes` as {what: {old, new}} or a
diff. Failures are values (result False, with a comment saying why), never exceptions. Everything a module
needs comes in the explicit `Ctx`: test mode, the file root prefix of a test or lab, systemd or not.
"""

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hamaster.core.config import MinionConfig

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Ctx:
    test: bool = False
    prefix: Path | None = None  # file.* paths land under it (tests, labs); None on a real node
    systemd: bool = False  # PID 1 is systemd
    minion: MinionConfig | None = None  # the minion's config (jobs that read the node, e.g. keepalived.readiness)

    def path(self, name: str) -> Path:
        p = Path(name)
        return self.prefix / p.relative_to(p.anchor) if self.prefix else p


@dataclass
class Ret:
    result: bool | None
    comment: str
    changes: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None  # what a read-only job found (keepalived.readiness), sent back as is


@dataclass(frozen=True)
class Done:
    code: int
    out: str  # stdout and stderr, interleaved, stripped

    @property
    def ok(self) -> bool:
        return self.code == 0

    def tail(self, lines: int = 5) -> str:
        return "\n".join(self.out.splitlines()[-lines:])


def run(cmd: str | list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT) -> Done:
    """Run a command (a string goes through /bin/sh); a missing program or a timeout is a result, not a raise."""
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd, env=full_env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              text=True, errors="replace", check=False)
    except subprocess.TimeoutExpired:
        return Done(124, f"timed out after {timeout:.0f} s")
    except OSError as exc:
        return Done(127, str(exc))
    return Done(proc.returncode, proc.stdout.strip())


def _registry() -> tuple[dict[str, Callable[..., Ret]], dict[str, Callable[..., Ret]]]:
    from hamaster.minion.statemods import cmd, drain, file, pkg, readiness, service

    functions: dict[str, Callable[..., Ret]] = {
        "file.managed": file.managed, "file.directory": file.directory, "file.absent": file.absent,
        "service.running": service.running, "service.dead": service.dead,
        "cmd.run": cmd.run, "pkg.installed": pkg.installed, "keepalived.drain": drain.drain,
        "keepalived.readiness": readiness.readiness,
    }
    watchers = {"service.running": service.mod_watch}  # what a changed watched state triggers
    return functions, watchers


FUNCTIONS, WATCHERS = _registry()
