"""Stored VRRP transitions -> incidents: per-group state machines (vrrp_group.py) driven by correlator.py."""
