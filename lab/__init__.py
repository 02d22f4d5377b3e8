"""The lab: a real keepalived + nginx pair in network namespaces, for the demo, the tests and the benchmarks."""
