"""Rendering (top.sls, pillar, Jinja, YAML, include, source) and compiling (order, requisites), with each error."""

from pathlib import Path

import pytest

from hamaster.core.errors import ConfigError
from hamaster.master.states.compiler import compile_states
from hamaster.master.states.render import render_pillar, render_states


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def chunks(root: Path, minion: str = "node1", grains: dict | None = None, pillar: dict | None = None) -> list[dict]:
    return compile_states(render_states(root, minion, grains or {}, pillar or {}).states)


def keys(cs: list[dict]) -> list[str]:
    return [c["key"] for c in cs]


# -- top.sls -----------------------------------------------------------------------------------------
def test_top_matches_globs_on_the_minion_id_and_grains(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "top.sls": "base:\n  '*': [common]\n  'node1': [one]\n  'os:deb*': [{match: grain}, debian]\n",
        "common.sls": "a:\n  cmd.run: []\n",
        "one.sls": "b:\n  cmd.run: []\n",
        "debian.sls": "c:\n  cmd.run: []\n",
    })
    assert keys(chunks(root, "node1", {"os": "debian"})) == ["cmd|a", "cmd|b", "cmd|c"]
    assert keys(chunks(root, "node2", {"os": "centos"})) == ["cmd|a"]


def test_pillar_tree_merges_in_top_order_and_states_see_it(tmp_path: Path) -> None:
    pillar_root = tree(tmp_path / "pillar", {
        "top.sls": "'*': [common]\nnode1: [node1]\n",
        "common.sls": "vrrp: {priority: 99, vip: 10.0.0.100}\n",
        "node1.sls": "vrrp: {priority: 100}\nrole: {{ grains['role'] }}\n",
    })
    pillar = render_pillar(pillar_root, "node1", {"role": "web"})
    assert pillar == {"vrrp": {"priority": 100, "vip": "10.0.0.100"}, "role": "web"}
    root = tree(tmp_path / "states", {
        "top.sls": "'*': [a]\n",
        "a.sls": "prio:\n  cmd.run:\n    - name: echo {{ pillar.vrrp.priority }} {{ minion_id }}\n",
    })
    assert chunks(root, "node1", pillar=pillar)[0]["name"] == "echo 100 node1"


# -- Jinja and YAML errors name the file and line ----------------------------------------------------
def test_missing_pillar_key_names_file_and_line(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": "x:\n  cmd.run:\n    - name: {{ pillar.vip }}\n"})
    with pytest.raises(ConfigError, match=r"a\.sls:3: .*'vip'"):
        chunks(root)


def test_typo_in_a_template_source_names_the_template(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "top.sls": "'*': [a]\n",
        "a.sls": "f:\n  file.managed:\n    - name: /etc/x\n    - source: files/x.j2\n    - template: jinja\n",
        "files/x.j2": "line one\n{{ grians.os }}\n",
    })
    with pytest.raises(ConfigError, match=r"files/x\.j2:2: 'grians' is undefined"):
        chunks(root)


def test_jinja_syntax_error_names_the_line(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": "x:\n  cmd.run:\n{% if %}\n"})
    with pytest.raises(ConfigError, match=r"a\.sls:3: "):
        chunks(root)


def test_yaml_error_after_jinja_names_the_line(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": "x:\n  cmd.run:\n  - name: [unclosed\n"})
    with pytest.raises(ConfigError, match=r"a\.sls:\d+: YAML after Jinja"):
        chunks(root)


def test_the_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n",
                           "a.sls": "x:\n  cmd.run:\n    - name: {{ ''.__class__.__mro__ }}\n"})
    with pytest.raises(ConfigError, match=r"a\.sls:3: .*unsafe"):
        chunks(root)


def test_missing_sls_and_bad_top_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SLS 'nope' not found"):
        chunks(tree(tmp_path / "a", {"top.sls": "'*': [nope]\n"}))
    with pytest.raises(ConfigError, match=r"top\.sls: target '\*' must map to a list"):
        chunks(tree(tmp_path / "b", {"top.sls": "'*': nginx\n"}))
    with pytest.raises(ConfigError, match=r"match must be glob or grain"):
        chunks(tree(tmp_path / "c", {"top.sls": "'*': [{match: pcre}, x]\n"}))


# -- include and source ------------------------------------------------------------------------------
def test_included_states_come_first_and_once(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "top.sls": "'*': [web, base]\n",
        "base.sls": "pkgs:\n  cmd.run: []\n",
        "web/init.sls": "include: [base]\nsite:\n  cmd.run: []\n",
    })
    assert keys(chunks(root)) == ["cmd|pkgs", "cmd|site"]


def test_include_loop_is_an_error(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": "include: [b]\n", "b.sls": "include: [a]\n"})
    with pytest.raises(ConfigError, match="include loop a -> b -> a"):
        chunks(root)


def test_source_contents_travel_with_the_job(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "top.sls": "'*': [a]\n",
        "a.sls": "raw:\n  file.managed:\n    - name: /etc/raw\n    - source: salt://files/raw.txt\n"
                 "tpl:\n  file.managed:\n    - name: /etc/tpl\n    - source: files/tpl.j2\n    - template: jinja\n",
        "files/raw.txt": "{{ not rendered }}\n",
        "files/tpl.j2": "node {{ minion_id }}\n",
    })
    by_id = {c["id"]: c for c in chunks(root)}
    assert by_id["raw"]["args"]["contents"] == "{{ not rendered }}\n"
    assert by_id["tpl"]["args"]["contents"] == "node node1\n"


def test_source_outside_the_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    root = tree(tmp_path / "tree", {"top.sls": "'*': [a]\n",
                                    "a.sls": "f:\n  file.managed:\n    - source: ../secret\n"})
    with pytest.raises(ConfigError, match=r"source '../secret' is not a file of"):
        chunks(root)


def test_octal_looking_modes_read_the_same_quoted_or_not(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n",
                           "a.sls": "f:\n  file.managed:\n    - name: /etc/f\n    - mode: 0644\n"})
    assert chunks(root)[0]["args"]["mode"] == 644  # read as the octal digits the author wrote


# -- compile: order and requisites -------------------------------------------------------------------
def test_requisites_move_states_after_what_they_need_otherwise_declaration_order(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": """
service:
  service.running:
    - name: nginx
    - watch:
      - file: /etc/nginx/nginx.conf
other:
  cmd.run: []
conf:
  file.managed:
    - name: /etc/nginx/nginx.conf
    - require:
      - pkg
pkg:
  pkg.installed:
    - name: nginx
notify:
  cmd.run:
    - onfail:
      - service: service
"""})
    cs = chunks(root)
    assert keys(cs) == ["cmd|other", "pkg|pkg", "file|conf", "service|service", "cmd|notify"]
    by_id = {c["id"]: c for c in cs}
    assert by_id["service"]["req"] == {"watch": ["file|conf"]}  # matched by name
    assert by_id["conf"]["req"] == {"require": ["pkg|pkg"]}  # a bare id matches any module
    assert by_id["notify"]["req"] == {"onfail": ["service|service"]}


@pytest.mark.parametrize(("sls", "error"), [
    ("a:\n  cmd.run:\n    - require: [{file: nope}]\n", r"a\.sls: state 'a' \(cmd\.run\): require 'file: nope'"),
    ("a:\n  cmd.run:\n    - require: [b]\nb:\n  cmd.run:\n    - watch: [a]\n", "requisite cycle: a -> b -> a"),
    ("a:\n  cmd.run:\n    - onchanges: [a]\n", "onchanges names the state itself"),
    ("a:\n  file.manged: []\n", r"state 'a' \(file\.manged\): unknown state function"),
    ("a:\n  file.managed:\n    - modee: '0644'\n", "unexpected keyword argument 'modee'"),
    ("a:\n  filemanaged: []\n", "'filemanaged' is not a module.function"),
    ("a:\n  cmd.run:\n    - require: [{file: x, cmd: y}]\n", "require entries are"),
    ("a: just text\n", "state 'a' must map module.function"),
])
def test_compile_errors_name_the_file_and_state(tmp_path: Path, sls: str, error: str) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a]\n", "a.sls": sls})
    with pytest.raises(ConfigError, match=error):
        chunks(root)


def test_same_id_and_module_in_two_files_is_an_error(tmp_path: Path) -> None:
    root = tree(tmp_path, {"top.sls": "'*': [a, b]\n", "a.sls": "x:\n  cmd.run: []\n", "b.sls": "x:\n  cmd.run: []\n"})
    with pytest.raises(ConfigError, match=r"b\.sls: state 'x' \(cmd\.run\): id 'x' with module cmd is also declared"):
        chunks(root)
