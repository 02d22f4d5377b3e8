"""The master: intake of minion events, the store, the correlator, jobs and the operator CLI."""
