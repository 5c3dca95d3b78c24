"""sourceAddresses of a LoggerConfig (data-model OAS, LoggerConfig.sourceAddresses): the white
list reduced by the black list; only a black list, even empty: every device but those; neither
list (`{}` or no sourceAddresses at all): no device."""

import pytest

from agent.talq.loggers import decode_logger, in_sources, records


def logger(**sources) -> dict:
    body = {"address": "faults", "ownerCMS": "cms",
            "recordingMode": {"type": "EventRecordingMode",
                              "sourceEvents": {"whiteList": ["lampFailure"]}},
            "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}
    if "absent" not in sources:
        body["sourceAddresses"] = sources
    return decode_logger(body, catalog=None)     # no references: the catalog is not asked


@pytest.mark.parametrize("sources, applies", [
    ({}, False),                                   # "sourceAddress={} = No devices to log"
    ({"absent": True}, False),                     # no white list, nor a black list
    ({"whiteList": []}, False),                    # "{wl:[]} => No devices to log"
    ({"whiteList": [], "blackList": []}, False),   # "{wl:[], bl:[]} => No devices to log"
    ({"blackList": []}, True),                     # "{bl:[]} => All devices to log"
])
def test_source_addresses_follow_the_oas_table(sources, applies):
    decoded = logger(**sources)
    assert in_sources(decoded, "L-001") is applies
    assert records(decoded, "L-001", "lampFailure") is applies
