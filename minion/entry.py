"""Entry point of `haminion`: the hook takes a lean path that imports neither click nor ZeroMQ."""

import sys


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "hook":
        from hamaster.minion.hook import main as hook_main

        return hook_main(sys.argv[2:])
    from hamaster.minion.cli import main as cli_main

    return cli_main()
