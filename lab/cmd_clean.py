"""`hamaster lab-clean`: remove what crashed labs left behind (namespaces, bridges, /etc/netns dirs, records)."""

import os

import click

from hamaster.lab.netns import LabError, clean_leftovers


@click.command("lab-clean")
def lab_clean() -> None:
    """Remove leftovers of labs whose process is gone. Running labs are left alone."""
    if os.geteuid() != 0:
        raise LabError("lab-clean needs root")
    removed = clean_leftovers()
    for what in removed:
        click.echo(f"removed {what}")
    click.echo(f"{len(removed)} leftover(s) removed" if removed else "nothing to clean")
