"""tests/truth: what the correlator may believe, on a real store, through the real master, and on a real lab
(keepalived and nginx in network namespaces; `lab`-marked tests are skipped, with the reason, without root)."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from labtruth import AddressMonitor, fast_clock, wrap_hooks  # (found by the path above)

from hamaster.lab.site import LabSite, wait_until


@pytest.fixture
def drill(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[LabSite, Path, dict[str, AddressMonitor]]]:
    """A lab site applied and settled, node1 MASTER, with the truth: the notify log and `ip monitor address`
    of each node. Parameters: "three nodes" (node1..3, one instance), "node2 fast" (faketime +5 s)."""
    param = getattr(request, "param", None)
    nodes = ("node1", "node2", "node3") if param == "three nodes" else ("node1", "node2")
    with LabSite.create(tmp_path / "site", nodes=nodes) as site:
        log = tmp_path / "notify.log"
        wrap_hooks(site, log)
        monitors = {n.name: AddressMonitor(site, n.name, tmp_path / f"addr-{n.name}.log") for n in site.lab.nodes}
        try:
            if param == "node2 fast":
                fast_clock(site, "node2")  # its heartbeats say so: the incident is the sign it is connected
                wait_until(lambda: site.incidents("clock_offset"), 20, "node2's minion under faketime")
            site.apply()
            site.settle()
            yield site, log, monitors
        finally:
            for m in monitors.values():
                m.stop()
