"""Rendering on the master: top.sls, the pillar tree and SLS files, per minion (Jinja2, then YAML).

A state tree is a folder:

    top.sls            which SLS each minion gets:   base: {'node*': [nginx], 'os:debian': [{match: grain}, ...]}
    nginx.sls          states; `a.b` names a/b.sls or a/b/init.sls
    files/...          referenced as `source: files/x.j2` (or `salt://files/x.j2`), relative to the tree

The pillar tree has the same shape (its own top.sls); its SLS render to mappings that are merged in order.
Templates see `grains`, `pillar` (not while rendering the pillar itself) and `minion_id`. Jinja runs sandboxed
with StrictUndefined, so a typo or a missing pillar key is a ConfigError naming the file and line.
`source:` files are read (and rendered, with `template: jinja`) here: their text travels with the job as
`contents`, so minions need no copy of the tree.
"""

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from hamaster.core.errors import ConfigError

REQUISITES = ("require", "watch", "onchanges", "onfail")
_STATE_KEY = re.compile(r"^([a-z_]+)\.([a-z_]+)$")


@dataclass(frozen=True)
class Requisite:
    """`- file: nginx_conf` (module and id or name) or `- nginx_conf` (any state with that id)."""

    kind: str
    module: str | None
    target: str


@dataclass(frozen=True)
class StateDecl:
    """One state as declared: `id: {module.fun: [args]}`, with where it came from."""

    id: str
    fun: str  # "file.managed"
    name: str
    args: dict[str, Any]
    requisites: tuple[Requisite, ...]
    sls: str
    path: str

    @property
    def module(self) -> str:
        return self.fun.split(".", 1)[0]

    @property
    def where(self) -> str:
        return f"{self.path}: state '{self.id}' ({self.fun})"


@dataclass
class Rendered:
    """What one minion gets: its pillar and its states in declaration order."""

    minion_id: str
    pillar: dict[str, Any]
    states: list[StateDecl] = field(default_factory=list)


# -- YAML: octal-looking integers stay decimal (YAML 1.2), so `mode: 0644` and `mode: 644` mean the same ----
class _Loader(yaml.SafeLoader):
    pass


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    if re.fullmatch(r"[-+]?0[0-7]+", text):
        return int(text, 10)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)


def load_yaml_text(text: str, path: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise ConfigError(f"{path}{line}: YAML after Jinja: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML after Jinja: {exc}") from None


# -- Jinja ---------------------------------------------------------------------------------------------------
class Tree:
    """A state or pillar tree on disk, with one sandboxed Jinja environment over it; `kind` names it in errors."""

    def __init__(self, root: Path, kind: str = "state tree") -> None:
        self.root, self.kind = Path(root), kind
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: no such {kind} (a folder with top.sls)")
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.root)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,  # `{% if %}` lines leave no blank lines in rendered configs
            lstrip_blocks=True,
            autoescape=False,
        )

    def render_text(self, relpath: str, context: dict[str, Any]) -> str:
        """Render one file of the tree; every Jinja error names the file and line."""
        where = str(self.root / relpath)
        try:
            return self.env.get_template(relpath).render(context)
        except jinja2.TemplateNotFound as exc:
            raise ConfigError(f"{where}: template {exc.name!r} not found in the {self.kind} {self.root}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"{exc.filename or where}:{exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{_template_line(exc, self.root) or where}: {exc.message or exc}") from None

    def sls_path(self, sls: str) -> str:
        if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", sls):
            raise ConfigError(f"{self.root}: bad SLS name {sls!r} (expected names like nginx or web.nginx)")
        base = sls.replace(".", "/")
        for rel in (f"{base}.sls", f"{base}/init.sls"):
            if (self.root / rel).is_file():
                return rel
        raise ConfigError(f"{self.root}: SLS {sls!r} not found in this {self.kind} ({base}.sls or {base}/init.sls)")

    def render_sls(self, rel: str, context: dict[str, Any]) -> Any:
        return load_yaml_text(self.render_text(rel, context), str(self.root / rel))


def _template_line(exc: BaseException, root: Path) -> str | None:
    """Jinja rewrites tracebacks so template frames carry the template's file name and line: take the last."""
    found, tb, prefix = None, exc.__traceback__, str(root)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(prefix):
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


# -- top.sls -------------------------------------------------------------------------------------------------
def top_matches(tree: Tree, minion_id: str, grains: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """SLS names for one minion, in top.sls order, each once."""
    path = str(tree.root / "top.sls")
    top = tree.render_sls("top.sls", context) or {}
    if isinstance(top, dict) and set(top) == {"base"} and isinstance(top["base"], dict):
        top = top["base"]  # Salt's environment level
    if not isinstance(top, dict):
        raise ConfigError(f"{path}: expected a mapping of targets to SLS lists")
    out: list[str] = []
    for target, entries in top.items():
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: target {target!r} must map to a list of SLS names")
        match = "glob"
        names = []
        for entry in entries:
            if isinstance(entry, dict) and set(entry) == {"match"}:
                match = entry["match"]
            elif isinstance(entry, str):
                names.append(entry)
            else:
                raise ConfigError(f"{path}: target {target!r}: entries are SLS names or {{match: glob|grain}}")
        if _target_matches(path, str(target), match, minion_id, grains):
            out.extend(n for n in names if n not in out)
    return out


def _target_matches(path: str, target: str, match: str, minion_id: str, grains: dict[str, Any]) -> bool:
    if match == "glob":
        return fnmatch.fnmatchcase(minion_id, target)
    if match == "grain":
        key, sep, pattern = target.partition(":")
        if not sep:
            raise ConfigError(f"{path}: grain target {target!r} must be KEY:GLOB")
        value = grains.get(key)
        values = value if isinstance(value, list) else [value]
        return any(fnmatch.fnmatchcase(str(v), pattern) for v in values if v is not None)
    raise ConfigError(f"{path}: target {target!r}: match must be glob or grain, got {match!r}")


# -- pillar --------------------------------------------------------------------------------------------------
def render_pillar(root: Path, minion_id: str, grains: dict[str, Any]) -> dict[str, Any]:
    tree = Tree(root, "pillar tree")
    context = {"grains": grains, "minion_id": minion_id}
    pillar: dict[str, Any] = {}
    for sls in top_matches(tree, minion_id, grains, context):
        rel = tree.sls_path(sls)
        data = tree.render_sls(rel, context) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{tree.root / rel}: a pillar SLS must be a mapping")
        _merge(pillar, data)
    return pillar


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


# -- states --------------------------------------------------------------------------------------------------
def render_states(root: Path, minion_id: str, grains: dict[str, Any], pillar: dict[str, Any],
                  only: list[str] | None = None) -> Rendered:
    """The minion's highstate (what top.sls gives it), or just the SLS named in `only` (reactor rules)."""
    tree = Tree(root)
    context = {"grains": grains, "pillar": pillar, "minion_id": minion_id}
    out = Rendered(minion_id, pillar)
    done: set[str] = set()
    for sls in only if only is not None else top_matches(tree, minion_id, grains, context):
        _render_one(tree, sls, context, out, done, ())
    return out


def _render_one(tree: Tree, sls: str, context: dict[str, Any], out: Rendered, done: set[str],
                chain: tuple[str, ...]) -> None:
    if sls in done:
        return
    if sls in chain:
        raise ConfigError(f"{tree.root}: include loop {' -> '.join((*chain, sls))}")
    rel = tree.sls_path(sls)
    path = str(tree.root / rel)
    data = tree.render_sls(rel, context) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an SLS must be a mapping of state ids")
    includes = data.pop("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: include must be a list of SLS names")
    for inc in includes:  # included states come first: they are what this file builds on
        _render_one(tree, inc, context, out, done, (*chain, sls))
    done.add(sls)
    for state_id, body in data.items():
        out.states.extend(_parse_state(tree, path, sls, str(state_id), body, context))


def _parse_state(tree: Tree, path: str, sls: str, state_id: str, body: Any,
                 context: dict[str, Any]) -> list[StateDecl]:
    if not isinstance(body, dict) or not body:
        raise ConfigError(f"{path}: state '{state_id}' must map module.function to its arguments")
    decls = []
    for fun, raw_args in body.items():
        if not isinstance(fun, str) or not _STATE_KEY.match(fun):
            raise ConfigError(f"{path}: state '{state_id}': {fun!r} is not a module.function like file.managed")
        args = _args(path, state_id, fun, raw_args)
        reqs = tuple(_requisites(path, state_id, args))
        name = args.pop("name", state_id)
        if not isinstance(name, str):
            raise ConfigError(f"{path}: state '{state_id}': field 'name' must be a string")
        if "source" in args:
            args = _resolve_source(tree, path, state_id, args, context)
        decls.append(StateDecl(state_id, fun, name, args, reqs, sls, path))
    return decls


def _args(path: str, state_id: str, fun: str, raw: Any) -> dict[str, Any]:
    """Salt's list of one-key mappings (`- name: x`), or a plain mapping."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    if isinstance(raw, list):
        args: dict[str, Any] = {}
        for item in raw:
            if not (isinstance(item, dict) and len(item) == 1):
                raise ConfigError(f"{path}: state '{state_id}' {fun}: arguments are `- key: value` items")
            args.update(item)
        return args
    raise ConfigError(f"{path}: state '{state_id}' {fun}: arguments must be a list of `- key: value`")


def _requisites(path: str, state_id: str, args: dict[str, Any]) -> list[Requisite]:
    out = []
    for kind in REQUISITES:
        refs = args.pop(kind, [])
        for ref in refs if isinstance(refs, list) else [refs]:
            if isinstance(ref, str):
                out.append(Requisite(kind, None, ref))
            elif isinstance(ref, dict) and len(ref) == 1:
                (module, target), = ref.items()
                out.append(Requisite(kind, str(module), str(target)))
            else:
                raise ConfigError(f"{path}: state '{state_id}': {kind} entries are `- id` or `- module: id`")
    return out


def _resolve_source(tree: Tree, path: str, state_id: str, args: dict[str, Any],
                    context: dict[str, Any]) -> dict[str, Any]:
    args = dict(args)
    source = args.pop("source")
    template = args.pop("template", None)
    if "contents" in args:
        raise ConfigError(f"{path}: state '{state_id}': give either source or contents, not both")
    if not isinstance(source, str):
        raise ConfigError(f"{path}: state '{state_id}': field 'source' must be a path in the state tree")
    rel = source.removeprefix("salt://").lstrip("/")
    target = (tree.root / rel).resolve()
    if not target.is_relative_to(tree.root.resolve()) or not target.is_file():
        raise ConfigError(f"{path}: state '{state_id}': source {source!r} is not a file of {tree.root}")
    if template == "jinja":
        args["contents"] = tree.render_text(rel, context)
    elif template is None:
        try:
            args["contents"] = target.read_text()
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: state '{state_id}': source {source!r} is not UTF-8 text") from None
    else:
        raise ConfigError(f"{path}: state '{state_id}': template must be jinja, got {template!r}")
    args["source"] = source  # kept for the comment; the minion uses contents
    return args
