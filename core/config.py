"""Site configuration: master.yaml and minion.yaml, loaded into typed objects.

The schema (what each file may say, its types and ranges) is core/schema.py; this module reads the YAML,
refuses what the schema refuses with the file and line, checks what needs the disk (a folder that must exist,
a path that must not be a directory), and resolves relative paths against the folder holding the file, so a
site made by `hamaster init` can be moved as a whole. The notify, correlator, reactor and probes sections are
checked here for shape; their owners check the rest (apprise URLs, templates, route names).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hamaster.core import schema
from hamaster.core.errors import ConfigFileError
from hamaster.core.schema import DEFAULT_PORT, HEARTBEAT_S, SILENT_AFTER_S

__all__ = ["DEFAULT_MASTER_CONFIG", "DEFAULT_MINION_CONFIG", "DEFAULT_PORT", "HEARTBEAT_S", "SILENT_AFTER_S",
           "MasterConfig", "MinionConfig", "load_master_config", "load_minion_config", "load_yaml", "resolve_spool_dir"]

DEFAULT_MASTER_CONFIG = "/etc/hamaster/master.yaml"
DEFAULT_MINION_CONFIG = "/etc/hamaster/minion.yaml"




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
    notify: Any = field(default_factory=dict)  # schema.Notify (or a plain mapping): notify/config.py builds it
    correlator: Any = field(default_factory=dict)  # schema.CorrelatorSettings (or a plain mapping)
    reactor: list[Any] = field(default_factory=list)  # the rules as written, checked by the schema
    probes: list[schema.Probe] = field(default_factory=list)
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
    keepalived_conf: Path = Path("/etc/keepalived/keepalived.conf")
    heartbeat_interval: float = HEARTBEAT_S
    master_timeout: float = 10.0
    reconcile_interval: float = 30.0
    beacons: dict[str, Any] = field(default_factory=dict)  # as written, checked by the schema
    log_level: str = "info"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class Document:
    """A parsed YAML file that still knows the line of every key (for errors that name a field)."""

    def __init__(self, path: Path, data: Any, node: Any) -> None:
        self.path, self.data, self.node = path, data, node

    def line_of(self, parts: list[str | int]) -> int | None:
        """The line of the deepest key or item of `parts` that the file has."""
        node, line = self.node, None
        for part in parts:
            nxt = None
            if isinstance(part, str) and node is not None and node.id == "mapping":
                for key, value in node.value:
                    if key.value == part:
                        nxt, line = value, key.start_mark.line + 1
            elif isinstance(part, int) and node is not None and node.id == "sequence" and part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line

    def error(self, parts: list[str | int], message: str) -> ConfigFileError:
        line = self.line_of(parts)
        return ConfigFileError(f"{self.path}{f':{line}' if line else ''}: {schema.dotted(parts)}: {message}")


def read_yaml(path: Path) -> Document:
    """Read a YAML file; errors name the file and line. A key given twice is refused (which one would count?)."""
    import yaml  # here, not at the top: PyYAML is a tenth of the start-up of a CLI command that reads the store

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigFileError(f"{path}: {exc.strerror}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_duplicate_keys(path, node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigFileError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    finally:
        loader.dispose()
    return Document(path, data, node)


def _refuse_duplicate_keys(path: Path, node: Any, trail: str = "") -> None:
    if node.id == "mapping":
        seen: set[Any] = set()
        for key, value in node.value:
            name = getattr(key, "value", None)
            here = f"{trail}.{name}" if trail else str(name)
            if isinstance(name, str):
                if name in seen:
                    raise ConfigFileError(f"{path}:{key.start_mark.line + 1}: {here}: given twice")
                seen.add(name)
            _refuse_duplicate_keys(path, value, here)
    elif node.id == "sequence":
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(path, item, f"{trail}[{i}]")


def load_yaml(path: Path) -> Any:
    """The data of a YAML file (errors name the file and line)."""
    return read_yaml(path).data


def _without_nulls(data: Any) -> Any:
    """`heartbeat:` with nothing under it, or `fifo: ~`, means the default, as it always has."""
    if isinstance(data, dict):
        return {k: _without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_nulls(v) for v in data]
    return data


def _checked(doc: Document, type_: Any, what: str) -> Any:
    if doc.data is None:
        raise ConfigFileError(f"{doc.path}: the file is empty; expected the settings of {what} (see `hamaster init`)")
    if not isinstance(doc.data, dict):
        raise ConfigFileError(f"{doc.path}: expected a mapping of settings at the top, got {schema.shown(doc.data)}")
    return schema.convert(_without_nulls(doc.data), type_, str(doc.path), line_of=doc.line_of)


def resolve_config_path(path: str | os.PathLike[str] | None, default: str, env: str = "HAMASTER_CONFIG") -> Path:
    if path:
        return Path(path)
    return Path(os.environ.get(env) or default)


def _beside(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _ipc_folder_exists(doc: Document, name: str, address: str) -> None:
    if address.startswith("ipc://"):
        folder = Path(address[len("ipc://"):]).parent
        if not folder.is_dir():
            raise doc.error([name], f"folder {folder} does not exist (the socket is made there)")


def load_master_config(path: str | os.PathLike[str] | None = None) -> MasterConfig:
    p = resolve_config_path(path, DEFAULT_MASTER_CONFIG).absolute()
    doc = read_yaml(p)
    f: schema.MasterFile = _checked(doc, schema.MasterFile, "a master")
    store = f.store
    if "://" not in store:
        store = str(_beside(p.parent, store))
    control = f.control or f"ipc://{p.parent / 'control.sock'}"
    if control.startswith("ipc://") and not Path(control[6:]).is_absolute():
        control = f"ipc://{p.parent / control[6:]}"
    _ipc_folder_exists(doc, "control", control)
    _ipc_folder_exists(doc, "bind", f.bind)
    return MasterConfig(
        path=p,
        bind=f.bind,
        control=control,
        pki_dir=_beside(p.parent, f.pki_dir),
        store=store,
        state_root=_beside(p.parent, f.state_root),
        pillar_root=_beside(p.parent, f.pillar_root),
        heartbeat_interval=f.heartbeat.interval,
        silent_after=f.heartbeat.silent_after,
        log_level=f.log_level,
        notify=f.notify,
        correlator=f.correlator,
        reactor=list(doc.data.get("reactor") or []),
        probes=f.probes,
        metrics_listen=f.metrics.listen,
        raw=doc.data,
    )


def resolve_spool_dir(config_path: str | os.PathLike[str], value: str | None) -> Path:
    """Where the daemon keeps its spool for `spool_dir: VALUE` in the minion.yaml at `config_path`
    (None: the key is absent). The hook (minion/hook.py) must arrive at the same folder."""
    base = Path(config_path).absolute().parent
    return _beside(base, value) if value else base / "spool"


def load_minion_config(path: str | os.PathLike[str] | None = None) -> MinionConfig:
    p = resolve_config_path(path, DEFAULT_MINION_CONFIG, env="HAMINION_CONFIG").absolute()
    doc = read_yaml(p)
    f: schema.MinionFile = _checked(doc, schema.MinionFile, "a minion")
    spool_dir = resolve_spool_dir(p, f.spool_dir)
    if spool_dir.exists() and not spool_dir.is_dir():
        raise doc.error(["spool_dir"], f"{spool_dir} is a file, expected a folder (made if missing)")
    fifo = _beside(p.parent, f.fifo) if f.fifo else None
    if fifo is not None:
        if fifo.is_dir():
            raise doc.error(["fifo"], f"{fifo} is a folder, expected the path of keepalived's notify_fifo")
        if not fifo.parent.is_dir():
            raise doc.error(["fifo"], f"folder {fifo.parent} does not exist")
    return MinionConfig(
        path=p,
        id=f.id,
        masters=schema.names(f.master),
        master_key=f.master_key,
        secret_key_file=_beside(p.parent, f.key),
        spool_dir=spool_dir,
        fifo=fifo,
        keepalived_conf=_beside(p.parent, f.keepalived_conf),
        heartbeat_interval=f.heartbeat.interval,
        master_timeout=f.heartbeat.timeout,
        reconcile_interval=f.reconcile_interval,
        beacons=dict(doc.data.get("beacons") or {}),
        log_level=f.log_level,
        raw=doc.data,
    )
