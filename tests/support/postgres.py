"""Test access to the private PostgreSQL + PostGIS helper (fleet/localdb.py)."""

from fleet.localdb import LocalDbUnavailable, LocalPostgres

__all__ = ["LocalDbUnavailable", "LocalPostgres"]
