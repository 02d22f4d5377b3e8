"""`hamaster --help` lists the commands from a table (it imports none of them): the table says what each
command's own help says, and the real `--help` shows every command."""

import subprocess

import click
import pytest
from sitelib import HAMASTER

from hamaster.master.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_the_command_says(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert COMMANDS[name][1] == command.get_short_help_str(limit=1000)


def test_help_lists_every_command_and_exits_0() -> None:
    out = subprocess.run([HAMASTER, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    listed = [line.split()[0] for line in out.stdout.split("Commands:\n", 1)[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)
