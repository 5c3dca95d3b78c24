"""The private PostgreSQL of the tests and the demo: a port taken between choosing and binding."""

import socket

import pytest

from agent.fleet.localdb import LocalDbUnavailable, LocalPostgres


def test_a_port_taken_before_the_first_start_is_replaced_by_another():
    """Before: the port was picked free, then another process (a parallel test's server) bound
    it before postgres did, and the start failed ("Address already in use"); under xdist whole
    fleet modules were skipped for it."""
    try:
        db = LocalPostgres()
    except LocalDbUnavailable as exc:
        pytest.skip(f"no private PostgreSQL here: {exc}")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        db.port = taken                       # as if it was taken after we chose it
        try:
            db.start()
            assert db.port != taken
            with socket.create_connection(("127.0.0.1", db.port), timeout=5):
                pass                          # the server listens on its new port
        finally:
            db.remove()


def test_a_port_given_by_the_caller_is_never_changed():
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        db = LocalPostgres(port=port)
    except LocalDbUnavailable as exc:
        pytest.skip(f"no private PostgreSQL here: {exc}")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        try:
            with pytest.raises(LocalDbUnavailable, match="exited at start"):
                db.start()
            assert db.port == port
        finally:
            db.remove()
