"""TALQ error answers (spec §3.5; TALQErrorMessage in the data-model OAS) and the middleware
that turns every refused request into one, so a CMS always gets a body it can parse."""

import json
import logging

from aiohttp import web

from drivers.errors import LenteraError

log = logging.getLogger(__name__)

API_VERSION = "2.7.1"
# §3.5: every response says no-transform and the API version it speaks
HEADERS = {"cache-control": "no-transform", "talq-api-version": API_VERSION}
ENCODINGS = ("gzip", "deflate")             # §3.5: the only content-encodings allowed


class TalqError(LenteraError):
    """A refused request: HTTP status, TALQErrorMessage key and a description naming the cause."""

    def __init__(self, status: int, key: str, description: str):
        super().__init__(description)
        self.status, self.key, self.description = status, key, description


def got(value) -> str:
    """How a refusal names what it was sent: short, one level deep ("missing" for none).
    Never json.dumps or str() of the whole value: a body nested near the parser's depth
    limit would raise RecursionError there, a 500 instead of the refusal."""
    if value is None:
        return "missing"
    if isinstance(value, dict):
        inner = ", ".join(f"{str(k)[:20]}: {_scalar(v)}" for k, v in list(value.items())[:4])
        return "{" + inner + (", ..." if len(value) > 4 else "") + "}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return _scalar(value)


def _scalar(value) -> str:
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    if isinstance(value, str):
        return json.dumps(value[:40])
    return json.dumps(value)[:40]


def bad(key: str, description: str) -> TalqError:
    return TalqError(400, key, description)


def not_found(description: str) -> TalqError:
    return TalqError(404, "resourceNotFound", description)


def error_response(status: int, key: str, description: str) -> web.Response:
    """The OAS's error body: an array of TALQErrorMessage."""
    return web.json_response([{"key": key, "description": description}], status=status,
                             headers=HEADERS)


def _instead(request) -> str:
    """The OAS's operation for a request shaped like one of the spec's examples."""
    if request.method == "POST" and request.path.startswith("/logger-configs/"):
        # §5.5's examples post to /logger-configs/<loggerId>; the gateway OAS does not
        return (": create a logger config with POST /logger-configs (its address in the "
                "body), replace one with PUT /logger-configs/{address}")
    return ""


def json_answer(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(body, status=status, headers={**HEADERS, **(headers or {})})


@web.middleware
async def talq_errors(request: web.Request, handler):
    """Refusals become TALQ error bodies; an encoding §3.5 does not allow is a 415."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding and encoding not in ENCODINGS + ("identity",):
        return error_response(415, "headerValueNotValid",
                              f"content-encoding {encoding!r} is not supported; send gzip, "
                              "deflate or no content-encoding (TALQ 2.7.1 §3.5)")
    try:
        response = await handler(request)
    except TalqError as error:
        return error_response(error.status, error.key, error.description)
    except web.HTTPRequestEntityTooLarge as error:
        # 400, not 413: the gateway OAS documents 400 (payloadError) for a body it refuses
        return error_response(400, "payloadError", f"request body too large: {error.text} "
                              "(talq.max_body in gateway.yaml)")
    except web.HTTPNotFound:
        return error_response(404, "resourceNotFound",
                              f"{request.path} is not a resource of this gateway; GET /services "
                              "lists what it supports (docs/talq.md)")
    except web.HTTPMethodNotAllowed as error:
        return error_response(404, "resourceNotFound",
                              f"{request.method} {request.path} is not supported by this gateway "
                              f"(it answers {', '.join(sorted(error.allowed_methods))})"
                              f"{_instead(request)}; see docs/talq.md")
    except web.HTTPClientError as error:
        # whatever else aiohttp refuses (a malformed query, ...) still gets a TALQ body
        return error_response(error.status, "genericError" if error.status != 400 else
                              "payloadError", f"{request.method} {request.path[:100]}: "
                              f"{error.reason}: {error.text[:200]}")
    if encoding in ENCODINGS and isinstance(response, web.Response):
        # §3.5: the server answers with the encoding the client's request used
        response.enable_compression(web.ContentCoding(encoding))
    return response
