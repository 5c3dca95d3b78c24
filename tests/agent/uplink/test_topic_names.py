"""Ids and prefixes that go into MQTT topics are checked as whole strings.

Before: `re.match(r"^...$")` let a gateway id with a trailing newline through, and the prefix
pattern allowed NUL; the broker then dropped every CONNECT and the agent ran on silently.
"""

import pytest
from pydantic import ValidationError

from agent.config.models import Gateway, Mqtt

LOC = {"lat": 0, "lon": 0}


@pytest.mark.parametrize("gateway_id", ["gw-1\n", "gw 1", "gw/1", "gw+1", "gw#", "GW-1", ""])
def test_bad_gateway_ids_are_refused(gateway_id):
    with pytest.raises(ValidationError):
        Gateway(id=gateway_id, site="s", location=LOC)


@pytest.mark.parametrize("prefix", ["city\x00/lighting", "city/", "/city", "city//lighting",
                                    "city/+/x", "city/#", "city lighting", "city/\tx",
                                    "city/lighting\n", "c\x7fity"])
def test_bad_topic_prefixes_are_refused(prefix):
    with pytest.raises(ValidationError, match="topic levels"):
        Mqtt(url="mqtt://127.0.0.1:1883", topic_prefix=prefix)


@pytest.mark.parametrize("client_id", ["a b", "a/b", "a\n", "a+b"])
def test_bad_client_ids_are_refused(client_id):
    with pytest.raises(ValidationError):
        Mqtt(url="mqtt://127.0.0.1:1883", client_id=client_id)


def test_good_names_pass():
    assert Gateway(id="tgr-gw-0001", site="s", location=LOC).id == "tgr-gw-0001"
    assert Mqtt(url="mqtt://h:1", topic_prefix="kota/tangerang/lampu").topic_prefix
    assert Mqtt(url="mqtt://h:1", client_id="lentera-tgr-gw-0001").client_id
