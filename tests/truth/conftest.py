"""tests/truth: what the correlator may believe, on a real store, through the real master, and on a real lab
(keepalived and nginx in network namespaces; `lab`-marked tests are skipped, with the reason, without root)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from hamaster.master.cli.demo import missing_requirements

    missing = missing_requirements()
    for item in items:
        if missing and item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.skip(reason="needs " + "; ".join(missing)))
