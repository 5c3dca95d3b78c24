"""Pages of /devices (spec §5.10): active only when `offset` or `limit` is given."""

from agent.talq.errors import bad

MAX_LIMIT = 1000                 # a CMS cannot ask for more devices than this in one page


def _integer(query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad("parameterValueNotValid", f"{name}={raw!r} is not an integer") from None
    return value


def page(query, items: list, default_limit: int) -> tuple[list, dict]:
    """(the items of the asked page, its pagination-* headers); the whole list and no
    headers when neither offset nor limit is given."""
    offset, limit = _integer(query, "offset"), _integer(query, "limit")
    if offset is None and limit is None:
        return items, {}
    offset = 0 if offset is None else offset
    limit = default_limit if limit is None else limit
    if offset < 0:
        raise bad("parameterValueNotValid", f"offset={offset}: must be 0 or more (0 is the "
                  "first device)")
    if not 1 <= limit <= MAX_LIMIT:
        raise bad("parameterValueNotValid", f"limit={limit}: must be 1..{MAX_LIMIT}")
    chosen = items[offset:offset + limit]
    return chosen, {"pagination-offset": str(offset), "pagination-defaultLimit": str(default_limit),
                    "pagination-count": str(len(chosen)), "pagination-totalCount": str(len(items))}
