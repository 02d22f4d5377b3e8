"""The hook reads `spool_dir:` by a line scan, the daemon by YAML: they must name one folder, or the hook refuses.

Before this, five configs out of five sent the hook's events to another folder than the daemon's, stderr empty:
a value on the next line, `~`, a quoted key, a duplicate key, `!!str`."""

import os
from pathlib import Path

import pytest

from hamaster.core.config import load_minion_config
from hamaster.core.errors import ConfigError
from hamaster.minion import hook

HEAD = "id: a1\nmaster: tcp://127.0.0.1:4506\nmaster_key: '" + "k" * 40 + "'\n"

# configs the hook must read, and read as the daemon does
READABLE = [
    "spool_dir: /var/spool/hm\n",
    "spool_dir: spool2\n",
    "spool_dir: ./s # relative to minion.yaml\n",
    "spool_dir: .hidden-spool\n",
    "spool_dir: '/var/spool/hm'\n",
    'spool_dir: "/var/spool/with space"\n',
    "spool_dir: /var/spool/a#b\n",  # '#' without a space before it is part of the value
    "---\nspool_dir: /x\n",
    "beacons:\n  nginx: false\n  # spool_dir: /not/this\nspool_dir: /this\n",  # nested keys are not the top-level one
    "# spool_dir: /commented\nspool_dir: /real\n",
    "",  # no spool_dir: the default beside minion.yaml
    "spool_dir: /crlf\r\nfifo: x\r\n",
    "\ufeffspool_dir: /bom\n",
    "heartbeat: {interval: 1, timeout: 5}\nspool_dir: /after/flow\n",
    "file_root_prefix: |\n  spool_dir: /in/a/block\nspool_dir: /outside\n",
]

# configs where a line scan could be wrong: the hook must refuse them, whatever the daemon makes of them
AMBIGUOUS = [
    "spool_dir:\n  /var/next/line\n",  # the five
    "spool_dir: ~\n",
    '"spool_dir": /quoted/key\n',
    "spool_dir: /first\nspool_dir: /second\n",
    "spool_dir: !!str /tagged\n",
    "spool_dir: /var/spool\n  /continued\n",  # a plain scalar folded over two lines
    "spool_dir: /var/spool\n\n  /continued\n",
    "  id2: x\n  spool_dir: /indented/top\n",
    "? spool_dir\n: /complex/key\n",
    "<<: {spool_dir: /merged}\n",
    "base: &b /anchored\nspool_dir: *b\n",
    "spool_dir: &a /anchor\n",
    "{spool_dir: /flow/top}\n",
    "master2: [a,\nspool_dir: /inside/flow]\n",
    "spool_dir: null\n",
    "spool_dir:\n",
    "spool_dir: 12\n",
    "spool_dir: yes\n",
    "spool_dir: 'it''s'\n",
    'spool_dir: "tab\\there"\n',
    "spool_dir : /space/before/colon\n",
    "spool_dir: a: b\n",
    "spool_dir: |\n  /block\n",
    "'spool_dir': /single/quoted/key\n",
    "spool_dir: 2024-01-01\n",
    "spool_dir: .inf\n",
    "spool_dir: =\n",
]


def write(tmp_path: Path, body: str) -> str:
    """The case, then the fields every minion.yaml needs (indented alike when the case indents its top level)."""
    head = HEAD.replace("\n", "\n  ").rstrip(" ") if body.startswith("  ") else HEAD
    path = tmp_path / "minion.yaml"
    path.write_text(body + ("  " if body.startswith("  ") else "") + head, newline="")
    return str(path)


def daemon_sees(config: str) -> str | None:
    try:
        return os.path.normpath(load_minion_config(config).spool_dir)
    except ConfigError:
        return None


@pytest.mark.parametrize("body", READABLE)
def test_the_hook_reads_plain_configs_as_the_daemon_does(tmp_path: Path, body: str) -> None:
    config = write(tmp_path, body)
    expected = daemon_sees(config)
    assert expected is not None, "the daemon should read this config"
    assert os.path.normpath(hook.spool_dir_of(config)) == expected


@pytest.mark.parametrize("body", AMBIGUOUS)
def test_the_hook_refuses_what_a_line_scan_could_read_otherwise(tmp_path: Path, body: str) -> None:
    config = write(tmp_path, body)
    with pytest.raises(ValueError, match=r"minion\.yaml:\d+: .*plain one-line string"):
        hook.spool_dir_of(config)


def test_an_event_the_hook_cannot_place_reaches_the_master_through_the_fallback_and_doctor_says_why(
        site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from sitelib import HAMINION, wait_for

    monkeypatch.setenv("HAMINION_FALLBACK", str(tmp_path / "run-fallback"))
    config = Path(site.minion_config("node1"))
    config.write_text(config.read_text().replace("spool_dir: spool", "spool_dir:\n  spool-next-line"))
    site.start_master()
    site.start_minion("node1")
    hooked = site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    assert hooked.returncode == 0
    assert "spool_dir has no value on its line" in hooked.stderr and "fallback spool" in hooked.stderr
    wait_for(lambda: site.count() == 1, 20, "the event, by way of the fallback spool")
    assert "no value on its line" in site.query("SELECT json_extract(data, '$.fallback') FROM events"
                                                " WHERE kind = 'vrrp'")[0][0]
    doctor = subprocess.run([HAMINION, "doctor", "-c", str(config), "--keepalived-conf", "/nonexistent"],
                            capture_output=True, text=True, timeout=30)
    assert doctor.returncode != 0
    assert "FIX  the hook cannot read spool_dir: " in doctor.stdout, doctor.stdout
    assert "the hook cannot read spool_dir" in (site.root / "minion-node1.log").read_text()


def test_doctor_says_so_when_hook_and_daemon_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hamaster.minion.doctor import check_hook_spool

    monkeypatch.setenv("HAMINION_FALLBACK", str(tmp_path / "run-fallback"))
    cfg = load_minion_config(write(tmp_path, "spool_dir: /var/spool/hm\n"))
    assert [(ok, what) for ok, what, _ in check_hook_spool(cfg)] == [
        (True, "the hook and the daemon use one spool (/var/spool/hm)"),
        (True, f"no hook events wait in the fallback spool {hook.fallback_dir(str(cfg.path))}")]


def test_the_minion_yaml_that_init_writes_is_read_alike_by_hook_and_daemon(site) -> None:
    for minion in ("node1", "node2"):
        config = site.minion_config(minion)
        assert os.path.normpath(hook.spool_dir_of(config)) == daemon_sees(config)
