"""hamaster.core: what every side shares (master, minion, notify): the error tree, the event and incident
models, the wire protocol, config loading, time and secret masking. It imports nothing else of hamaster.
It must stay cheap to import: the keepalived hook imports nothing from here but `timeutil`.
"""

__version__ = "0.1.0"
