"""Request bodies (spec §3.5): JSON, optionally gzip or deflate, never larger than the bound."""

import json
import zlib

from agent.talq.errors import bad

WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """Decompress at most `limit` bytes; more, or broken data, is a 400 payloadError (the
    status the gateway OAS documents for a refused body; 413 is not among them)."""
    if encoding not in WBITS:
        return raw
    try:
        inflater = zlib.decompressobj(WBITS[encoding])
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as error:
        raise bad("payloadError", f"body is not valid {encoding} data: {error}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise bad("payloadError", f"body inflates past {limit} bytes (talq.max_body)")
    return out


async def read_json(request, limit: int):
    """The request's JSON body, or a TALQ error naming what is wrong with it."""
    raw = await request.read()                    # bounded by client_max_size
    return decode(raw, request.headers.get("content-encoding", "").strip().lower(), limit)


def decode(raw: bytes, encoding: str, limit: int):
    """Bytes from a CMS -> a JSON value; TalqError (400) is the only error it raises."""
    data = inflate(raw, encoding, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad("payloadError", "body is not UTF-8 (TALQ 2.7.1 §3.5)") from None
    except (ValueError, RecursionError) as error:
        # ValueError beyond JSONDecodeError: an integer of more than 4,300 digits
        raise bad("payloadError", f"body is not JSON we take: {str(error)[:120]}") from None
