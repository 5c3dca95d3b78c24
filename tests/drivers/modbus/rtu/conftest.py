"""Fixtures for the RTU tests: simulated sites on their own pty wires."""

import pytest

from tests.drivers.modbus.rtu.site import RtuSiteThread


@pytest.fixture
def rtu_site_factory(tmp_path):
    """Start RTU sites (each with its own pty wire), stopped after the test."""
    sites = []

    def make(lights, **kwargs):
        site = RtuSiteThread(tmp_path / f"rs485-{len(sites)}", lights, **kwargs).start()
        sites.append(site)
        return site
    yield make
    for site in sites:
        site.stop()
