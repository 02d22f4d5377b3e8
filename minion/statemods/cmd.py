"""cmd.run: run a command unless it is not needed (`unless` succeeds, `onlyif` fails, `creates` exists)."""

import os

from hamaster.minion.statemods import DEFAULT_TIMEOUT, Ctx, Ret
from hamaster.minion.statemods import run as run_cmd


def run(ctx: Ctx, name: str, unless: str | None = None, onlyif: str | None = None, creates: str | None = None,
        cwd: str | None = None, env: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> Ret:
    env = {str(k): str(v) for k, v in (env or {}).items()}
    if cwd and not os.path.isdir(cwd):
        return Ret(False, f"cwd {cwd} is not a directory")
    if creates and os.path.exists(creates):
        return Ret(True, f"{creates} exists")
    # unless/onlyif only read the node's state, so they run in test mode too (as in Salt)
    if unless and run_cmd(unless, cwd=cwd, env=env, timeout=timeout).ok:
        return Ret(True, "unless condition is true")
    if onlyif and not run_cmd(onlyif, cwd=cwd, env=env, timeout=timeout).ok:
        return Ret(True, "onlyif condition is false")
    if ctx.test:
        return Ret(None, f"Command {name!r} would have been executed", {"command": name})
    done = run_cmd(name, cwd=cwd, env=env, timeout=timeout)
    changes = {"retcode": done.code, "output": done.out}
    if not done.ok:
        return Ret(False, f"Command {name!r} failed (exit {done.code})", changes)
    return Ret(True, f"Command {name!r} run", changes)
