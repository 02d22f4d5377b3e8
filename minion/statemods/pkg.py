"""pkg.installed through the node's package manager: apt (dpkg), dnf or yum (rpm), whichever is there."""

import shutil

from hamaster.minion.statemods import Ctx, Ret, run

INSTALL_TIMEOUT = 600.0


def _manager() -> str | None:
    return next((m for m in ("apt-get", "dnf", "yum") if shutil.which(m)), None)


def _installed(manager: str, name: str) -> bool:
    if manager == "apt-get":
        done = run(["dpkg-query", "-W", "-f=${Status}", name])
        return done.ok and done.out.endswith("install ok installed")
    return run(["rpm", "-q", "--whatprovides", name]).ok


def installed(ctx: Ctx, name: str, pkgs: list[str] | None = None) -> Ret:
    manager = _manager()
    if manager is None:
        return Ret(False, "no package manager found (apt-get, dnf or yum)")
    wanted = [str(p) for p in (pkgs or [name])]
    missing = [p for p in wanted if not _installed(manager, p)]
    if not missing:
        return Ret(True, f"All specified packages are already installed: {', '.join(wanted)}")
    changes = {p: {"old": "", "new": "installed"} for p in missing}
    if ctx.test:
        return Ret(None, f"The following packages would be installed: {', '.join(missing)}", changes)
    argv = [manager, "install", "-y", *missing]
    env = {"DEBIAN_FRONTEND": "noninteractive"} if manager == "apt-get" else None
    done = run(argv, env=env, timeout=INSTALL_TIMEOUT)
    still = [p for p in missing if not _installed(manager, p)]
    if not done.ok or still:
        return Ret(False, f"{manager} install failed (exit {done.code}) for {', '.join(still or missing)}:\n"
                   f"{done.tail()}", changes)
    return Ret(True, f"Installed {', '.join(missing)}", changes)
