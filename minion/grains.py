"""Grains: what a minion tells the master about its node when it connects (like Salt's)."""

import json
import platform
import socket
import subprocess
from typing import Any

from hamaster.minion import keepalived


def _os_release() -> dict[str, str]:
    out = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key:
                    out[key] = value.strip('"')
    except OSError:
        pass
    return out


def _addresses() -> list[str]:
    try:
        proc = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=3, check=True)
        return [a["local"] for link in json.loads(proc.stdout) for a in link.get("addr_info", [])
                if a.get("scope") == "global"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return []


def collect(minion_id: str) -> dict[str, Any]:
    osr = _os_release()
    return {
        "id": minion_id,
        "hostname": socket.gethostname(),
        "os": osr.get("ID", platform.system().lower()),
        "os_version": osr.get("VERSION_ID", ""),
        "kernel": platform.release(),
        "addresses": _addresses(),
        **keepalived.versions(),
        "python": platform.python_version(),
    }
