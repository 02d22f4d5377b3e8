"""`correlator:` in master.yaml: how VRRP groups are formed and when their changes become incidents.

The fields, their defaults and ranges are the schema's (core/schema.py, CorrelatorSettings): one definition
for master.yaml and for the correlator. `Settings.load(mapping_or_settings, where)` checks a plain mapping
(tests, tools) the same way the master's config loader does.
"""

from hamaster.core.schema import CorrelatorSettings as Settings

__all__ = ["Settings"]
