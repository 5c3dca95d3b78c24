"""Fuzz properties of the TALQ write decoders (PATCH bodies, data packages, the CMS's answer
to the bootstrap's step 1), on a fake site with the parts those decoders read. ALL_CHECKS is
fuzz_props.CHECKS with these added (bench/fuzz.py, tests/drivers/test_fuzz_decoders.py)."""

import types

from agent.talq.bootstrap import Bootstrap, NotTaken
from agent.talq.catalog import Catalog
from agent.talq.errors import TalqError
from agent.talq.packages import check_packages
from agent.talq.writes import device_writes, devices_writes, function_writes
from tests.drivers.fuzz_props import CHECKS, TALQ_NOW, TALQ_WORDS, talq_tree

GATEWAY = "00000000-0000-0000-0000-000000006a7e"
CMS = "00000000-0000-0000-0000-0000001c0ffe"


def _site():
    ns = types.SimpleNamespace
    kinds = {"L-001": "streetlight", "L-002": "streetlight", "M-1": "meter"}
    devices = [ns(id=d, profile="p", location=None, bus="b", unit=i + 1)
               for i, d in enumerate(kinds)]
    config = ns(devices=devices, serial_sensors=[],
                gateway=ns(id="gw", timezone="Asia/Jakarta", location=ns(lat=0.0, lon=0.0)))
    lighting = ns(controller=ns(groups={"road": ["L-001", "L-002"]},
                                devices=["L-001", "L-002"], failsafe=ns(level=70)),
                  outputs={}, actual={}, latest={})
    return ns(config=config, devices={d: ns(profile=ns(kind=k)) for d, k in kinds.items()},
              lighting=lighting, clock=ns(wall=lambda: TALQ_NOW, trusted=lambda: True),
              schedule=ns(current=lambda: {"groups": {}}), history=None)


TALQ = types.SimpleNamespace(gateway_address=GATEWAY, cms_address=CMS,
                             cms_uri="https://cms/talq", gateway_uri="https://gw",
                             retry_period=60.0, crl_urn="urn:x:y")
CATALOG = Catalog(_site(), TALQ)
LIGHT = CATALOG.address_of("L-001")
WORDS = TALQ_WORDS + (
    "functions", "class", "id", "lampActuator", "lampMonitor", "gateway", "GatewayFunction",
    "LampActuatorFunction", "LenteraStreetlight", "AttributeCommand", "AttributeString",
    "targetLightCommand", "defaultLightState", "cmsAddress", "gatewayAddress", "retryPeriod",
    "supplyVoltage", CMS, GATEWAY, LIGHT, "packageId", "releaseId", "downloadUri",
    "http://x/fw.bin")


def check_talq_patch_tree(data: bytes) -> None:
    """A PATCH body at one of its four paths: writes to our lights only, or a TalqError."""
    shape, body = (data[0] % 4 if data else 0), talq_tree(data[1:], WORDS)
    try:
        if shape == 0:
            writes = devices_writes(CATALOG, body, TALQ_NOW)
        elif shape == 1:
            writes = device_writes(CATALOG, body, TALQ_NOW, LIGHT)
        elif shape == 2:
            writes = function_writes(CATALOG, LIGHT, body, TALQ_NOW, "lampActuator")
        else:
            writes = function_writes(CATALOG, GATEWAY, {"cmsAddress": body}, TALQ_NOW,
                                     "gateway")
    except TalqError as exc:
        assert exc.status in (400, 404, 422) and exc.key and exc.description
        return
    for kind, light, (switch, dim, expires, label) in writes:
        assert kind == "light" and light in ("L-001", "L-002")
        assert dim is None or (type(dim) is int and 1 <= dim <= 100)
        assert expires is None or expires > TALQ_NOW
        assert isinstance(label, str)


def check_talq_packages_tree(data: bytes) -> None:
    """A PUT /data-packages body: the packages (then refused by the route), or a 400."""
    try:
        packages = check_packages(talq_tree(data, WORDS))
    except TalqError as exc:
        assert exc.status == 400 and exc.key == "payloadError"
        return
    assert packages and all(isinstance(p["releaseId"], str) for p in packages)


def check_talq_bootstrap_answer(data: bytes) -> None:
    """The CMS's answer to step 1 (§5.1): taken only with our addresses, else NotTaken."""
    answer = talq_tree(data, WORDS)
    try:
        Bootstrap._check_addresses(types.SimpleNamespace(talq=TALQ), answer)
    except NotTaken as exc:
        assert str(exc)
        return
    assert isinstance(answer, list)


ALL_CHECKS = {**CHECKS, "talq_patch_tree": check_talq_patch_tree,
              "talq_packages_tree": check_talq_packages_tree,
              "talq_bootstrap_tree": check_talq_bootstrap_answer}
