"""Every request example of the TALQ 2.7.1 specification (tests/agent/talq/spec_examples.py),
sent to a live gateway over mutual TLS, as printed and then as a CMS corrects it step by
step: each is taken, or refused with the OAS's TALQErrorMessage whose description names the
field (or resource) that is wrong and the fix, with a status the gateway OAS documents."""

import asyncio
import re
import uuid

import tests.agent.talq.running as running
from tests.agent.talq.oas import paths, validate
from tests.agent.talq.running import CMS, GATEWAY, call, running_gateway
from tests.agent.talq.spec_examples import examples, plan_examples

LIGHTS = 2


def documented(method: str, path: str) -> set:
    """The statuses the gateway OAS documents for the operation (None: not in the OAS)."""
    bare = path.split("?")[0]
    for template, operations in paths().items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, bare) and method.lower() in operations:
            return {int(s) for s in operations[method.lower()]["responses"] if s.isdigit()}
    return None


def send(port, pki, method, path, body, headers):
    query = f"clientAddress={CMS}" + (f"&talqRequestId={uuid.uuid4()}" if method != "GET"
                                      else "")
    if headers and "talq-version" in headers:         # the example's header instead of ours
        saved = running.HEADERS.pop("talq-api-version")
        try:
            return call(port, pki, method, path, body=body, headers=headers, query=query)
        finally:
            running.HEADERS["talq-api-version"] = saved
    return call(port, pki, method, path, body=body, headers=headers, query=query)


def refused_well(status: int, body, method: str, path: str, explained: bool = True) -> None:
    assert isinstance(body, list) and body, body
    validate(body[0], "TALQErrorMessage")
    assert not explained or len(body[0]["description"]) > 30, body   # what, and what to do
    statuses = documented(method, path)
    # an operation the gateway does not support is 404 (docs/talq.md's table), else a status
    # the OAS documents for it
    unsupported = status == 404 and "not supported by this gateway" in body[0]["description"]
    assert statuses is None or status in statuses or unsupported, (status, statuses)


def test_the_specs_examples_are_taken_or_refused_naming_the_field(tmp_path, site_factory):
    site = site_factory(LIGHTS)
    device = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
    group = str(uuid.uuid5(uuid.UUID(GATEWAY), "group:road"))

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS,
                                   talq_extra=", max_body: 65536") as (agent, pki, port):
            wrong = []
            for name, method, path, body, headers, expected in examples(CMS, device, group):
                status, _, answer = await asyncio.to_thread(send, port, pki, method, path,
                                                            body, headers)
                if isinstance(expected, int):
                    if status != expected:
                        wrong.append((name, status, answer))
                    continue
                code, key, names = expected
                refused_well(status, answer, method, path)
                if (status, answer[0]["key"]) != (code, key) or \
                        names not in answer[0]["description"]:
                    wrong.append((name, status, answer))
            assert wrong == [], "\n".join(map(str, wrong))
            # §5.8's bodies (plans.py, plan_routes.py, another engineer's this session):
            # refused with the OAS's error body; their descriptions are not checked here
            # ("the body is an array of 1..64 objects", "no calendar 'calendar1'")
            for name, method, path, body in plan_examples():
                status, _, answer = await asyncio.to_thread(send, port, pki, method, path,
                                                            body, None)
                assert status in (400, 422), (name, status, answer)
                refused_well(status, answer, method, path, explained=False)
    asyncio.run(scenario())
