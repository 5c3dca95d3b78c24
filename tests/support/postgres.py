"""Test access to the private PostgreSQL + PostGIS helper (agent/fleet/localdb.py)."""

from agent.fleet.localdb import LocalDbUnavailable, LocalPostgres

__all__ = ["LocalDbUnavailable", "LocalPostgres"]
