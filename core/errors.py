"""The one error tree of hamaster.

    HamasterError            anything we raise on purpose; the CLI prints its message on one line
     ├── ConfigError         a config, pillar or state file is wrong (names file, line or field)
     │    └── ConfigFileError  master.yaml or minion.yaml is wrong: the CLI exits 2, as for a usage error
     ├── StateError          a state run cannot start or went wrong as a whole
     ├── TransportError      the master or a minion cannot be reached, or answered nonsense
     ├── ProtocolError       a frame failed validation (the daemons log and drop it)
     └── StoreError          the event store cannot be opened or migrated

Failures of single states, deliveries or events are values (results), not exceptions.
"""


class HamasterError(Exception):
    """Base of every error we raise on purpose."""


class ConfigError(HamasterError):
    pass


class ConfigFileError(ConfigError):
    pass


class StateError(HamasterError):
    pass


class TransportError(HamasterError):
    pass


class ProtocolError(HamasterError):
    pass


class StoreError(HamasterError):
    pass


class StoreFull(StoreError):
    """The store's disk (or quota) is full: the write failed and its transaction is gone."""
