"""The meaning of ``as_of``: an ingest id, or an RFC 3339 instant resolved to the last ingest
committed at or before it."""
from __future__ import annotations

import datetime as dt
import re

from datalake.errors import InvalidArgumentError, NotFoundError
from datalake.lake import Lake
from datalake.storage.layout import INGEST_ID_RE

# Date, time with optional fraction, and a zone: Z or an offset. A space may stand for the
# separator "T", and for the "+" of an offset: an unencoded "+" in a URL's query arrives as one.
INSTANT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)([Zz]|[+\- ]\d{2}:\d{2})$")
# The form ``as_of`` parameters are checked against before they reach the engine.
AS_OF_PATTERN = (r"^(ing-[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                 r"([Zz]|[+ -][0-9]{2}:[0-9]{2}))$")
AS_OF_SHAPE = "an ingest id like ing-00000001, or an RFC 3339 time like 2018-06-20T09:00:00+12:00"


def parse_instant(value: str, field: str = "as_of") -> dt.datetime:
    """The UTC instant an RFC 3339 timestamp names; it must carry Z or an offset."""
    match = INSTANT_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgumentError(f"{field} must be {AS_OF_SHAPE}, got {value!r}", field=field, value=value)
    day, clock, zone = match.groups()
    zone = "+00:00" if zone in "Zz" else "+" + zone[1:] if zone[0] == " " else zone
    whole, _, fraction = clock.partition(".")
    text = f"{day}T{whole}{'.' + fraction[:6].ljust(6, '0') if fraction else ''}{zone}"
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError:
        raise InvalidArgumentError(f"{field}={value!r} is not a valid time", field=field, value=value) from None


def is_instant(value: str) -> bool:
    return not INGEST_ID_RE.match(value)


def resolve_as_of(lake: Lake, value: str | None, *, field: str = "as_of",
                  now: dt.datetime | None = None) -> str | None:
    """The ingest id ``value`` names: an ingest id as it is (it must exist), a time the last
    ingest committed at or before it. None stays None (the newest). A time before the first
    ingest raises ``NotFoundError``, a time in the future ``InvalidArgumentError``: the
    answer for it could still change."""
    if value is None:
        return None
    if not is_instant(value):
        lake.ingest(value)  # an unknown id is a NotFoundError(field="ingest_id")
        return value
    instant = parse_instant(value, field)
    if instant > (now or dt.datetime.now(dt.UTC)):
        raise InvalidArgumentError(f"{field}={value} is in the future: the lake's state then is not known yet",
                                   field=field, value=value)
    found = ingest_at(lake.ingests(), instant)
    if found is None:
        raise NotFoundError(f"{field}={value} is before the first ingest of this lake", field=field, value=value)
    return found


def ingest_at(records: list[dict], instant: dt.datetime) -> str | None:
    """Of commit records in id order, the id of the last committed at or before ``instant``."""
    found = None
    for record in records:
        if dt.datetime.fromisoformat(record["committed_at"]) <= instant:
            found = record["ingest_id"]
    return found
