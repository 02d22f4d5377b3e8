"""The state tree on the master: render SLS (Jinja2 + YAML), compile requisites, lint a pair, plan and roll
the jobs, print Salt's highstate summary."""
