"""The running master: the ROUTER and its ZAP keys, intake into the store, the control socket, probes, jobs,
metrics. `hamaster master` starts `daemon.run`."""
