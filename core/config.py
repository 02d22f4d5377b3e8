"""Site configuration: master.yaml and minion.yaml, loaded into typed objects.

Relative paths in a config file are relative to the folder holding it, so a site made by `hamaster init`
can be moved as a whole. Sections owned by other parts (notify, correlator, reactor, probes) are kept as
raw mappings here and validated by their owners, who name the field when it is wrong.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hamaster.core.errors import ConfigError

DEFAULT_MASTER_CONFIG = "/etc/hamaster/master.yaml"
DEFAULT_MINION_CONFIG = "/etc/hamaster/minion.yaml"
DEFAULT_PORT = 4506


# the site's timings, what `hamaster init` writes and what a config without them gets: a powered-off node is
# silent before VRRP's own takeover (3 x advert_int + skew, 3.6 s at advert_int 1)
HEARTBEAT_S, SILENT_AFTER_S = 0.5, 2.5


@dataclass(frozen=True)
class MasterConfig:
    path: Path
    bind: str
    control: str
    pki_dir: Path
    store: str
    state_root: Path
    pillar_root: Path
    heartbeat_interval: float = HEARTBEAT_S
    silent_after: float = SILENT_AFTER_S
    log_level: str = "info"
    notify: dict[str, Any] = field(default_factory=dict)
    correlator: dict[str, Any] = field(default_factory=dict)
    reactor: list[Any] = field(default_factory=list)
    probes: list[Any] = field(default_factory=list)
    metrics_listen: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class MinionConfig:
    path: Path
    id: str
    masters: list[str]
    master_key: str
    secret_key_file: Path
    spool_dir: Path
    fifo: Path | None
    heartbeat_interval: float = HEARTBEAT_S
    master_timeout: float = 10.0
    reconcile_interval: float = 30.0
    beacons: dict[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def load_yaml(path: Path) -> Any:
    """Read a YAML file; errors name the file and line."""
    import yaml  # here, not at the top: PyYAML is a tenth of the start-up of a CLI command that reads the store

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class _Fields:
    """Typed access to a config mapping that names file and field in every error."""

    def __init__(self, path: Path, data: Any) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
        self.path, self.data = path, data

    def get(self, key: str, types: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required or default is ...:
                raise ConfigError(f"{self.path}: field '{key}' is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise ConfigError(f"{self.path}: field '{key}' must be {_names(types)}, got a boolean")
        if float in (types if isinstance(types, tuple) else (types,)) and isinstance(value, int):
            value = float(value)
        if not isinstance(value, types):
            raise ConfigError(f"{self.path}: field '{key}' must be {_names(types)}, got {type(value).__name__}")
        return value

    def path_of(self, key: str, default: str) -> Path:
        value = Path(self.get(key, str, default))
        return value if value.is_absolute() else (self.path.parent / value)


def _names(types: type | tuple[type, ...]) -> str:
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number", "dict": "a mapping",
                        "list": "a list", "bool": "true or false"}.get(t.__name__, t.__name__) for t in ts)


def resolve_config_path(path: str | os.PathLike[str] | None, default: str, env: str = "HAMASTER_CONFIG") -> Path:
    if path:
        return Path(path)
    return Path(os.environ.get(env) or default)


def load_master_config(path: str | os.PathLike[str] | None = None) -> MasterConfig:
    p = resolve_config_path(path, DEFAULT_MASTER_CONFIG).absolute()
    f = _Fields(p, load_yaml(p))
    store = f.get("store", str, "store.db")
    if "://" not in store and not Path(store).is_absolute():
        store = str(p.parent / store)
    hb = _Fields(p, f.get("heartbeat", dict, {}))
    return MasterConfig(
        path=p,
        bind=f.get("bind", str, f"tcp://0.0.0.0:{DEFAULT_PORT}"),
        control=f.get("control", str, f"ipc://{p.parent / 'control.sock'}"),
        pki_dir=f.path_of("pki_dir", "pki"),
        store=store,
        state_root=f.path_of("state_root", "states"),
        pillar_root=f.path_of("pillar_root", "pillar"),
        heartbeat_interval=hb.get("interval", float, HEARTBEAT_S),
        silent_after=hb.get("silent_after", float, SILENT_AFTER_S),
        log_level=f.get("log_level", str, "info"),
        notify=f.get("notify", dict, {}),
        correlator=f.get("correlator", dict, {}),
        reactor=f.get("reactor", list, []),
        probes=f.get("probes", list, []),
        metrics_listen=_Fields(p, f.get("metrics", dict, {})).get("listen", str, None),
        raw=f.data,
    )


def load_minion_config(path: str | os.PathLike[str] | None = None) -> MinionConfig:
    p = resolve_config_path(path, DEFAULT_MINION_CONFIG, env="HAMINION_CONFIG").absolute()
    f = _Fields(p, load_yaml(p))
    masters = f.get("master", (str, list), required=True)
    masters = [masters] if isinstance(masters, str) else masters
    if not masters or not all(isinstance(m, str) and "://" in m for m in masters):
        raise ConfigError(f"{p}: field 'master' must be an address like tcp://10.0.0.1:{DEFAULT_PORT} or a list")
    minion_id = f.get("id", str, required=True)
    if not minion_id or "/" in minion_id or minion_id.startswith("."):
        raise ConfigError(f"{p}: field 'id' must be a plain name, got {minion_id!r}")
    master_key = f.get("master_key", str, required=True)
    if len(master_key) != 40:
        raise ConfigError(f"{p}: field 'master_key' must be the master's 40-character Z85 public key")
    fifo = f.get("fifo", str, None)
    hb = _Fields(p, f.get("heartbeat", dict, {}))
    return MinionConfig(
        path=p,
        id=minion_id,
        masters=masters,
        master_key=master_key,
        secret_key_file=f.path_of("key", "minion.key_secret"),
        spool_dir=f.path_of("spool_dir", "spool"),
        fifo=(Path(fifo) if Path(fifo).is_absolute() else p.parent / fifo) if fifo else None,
        heartbeat_interval=hb.get("interval", float, HEARTBEAT_S),
        master_timeout=hb.get("timeout", float, 10.0),
        reconcile_interval=f.get("reconcile_interval", float, 30.0),
        beacons=f.get("beacons", dict, {}),
        log_level=f.get("log_level", str, "info"),
        raw=f.data,
    )
