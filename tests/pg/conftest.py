"""The PostgreSQL tests' server and databases (tests/pgcluster.py)."""

from pgcluster import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]
