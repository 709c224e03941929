"""Opaque keyset cursors for the output queries.

A cursor is base64url JSON (no secret: it only ever selects rows a caller could ask for
with explicit parameters). It names the query it belongs to, the last key returned, and
the run each trading date resolved to on the first page, so later pages read the same
runs even if a new run publishes in between. Anything malformed or belonging to another
query raises ``InvalidArgumentError(field="cursor")``.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

from datalake.errors import InvalidArgumentError
from datalake.storage.layout import RUN_ID_RE

VERSION = 1
MAX_CURSOR_CHARS = 64_000
MAX_PINNED_DAYS = 100_000  # a forged run map must not expand into millions of dates


@dataclass(frozen=True)
class Cursor:
    query: dict                     # the parameters that define the result set
    runs: dict[dt.date, str]        # trading date -> run id, pinned on the first page
    after: list[str | int | None]   # the key of the last row returned


def encode(cursor: Cursor) -> str:
    body = {"v": VERSION, "q": cursor.query, "m": _segments(cursor.runs), "a": cursor.after}
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, query: dict, key_length: int) -> Cursor:
    """Parse ``text`` and check it belongs to ``query`` (same parameters)."""
    try:
        if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
            raise ValueError("empty or too long")
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(body, dict) or body.get("v") != VERSION:
            raise ValueError("unknown cursor version")
        if body.get("q") != query:
            raise ValueError("cursor belongs to a different query")
        after = body["a"]
        if not isinstance(after, list) or len(after) != key_length or \
                not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in after):
            raise ValueError("bad key")
        runs = _expand(body["m"])
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        # What base64 or JSON make of a string that is not a cursor says nothing to a caller.
        raise InvalidArgumentError(f"cursor is not one this server gave out, got {_shown(text)}: pass the "
                                   "next_cursor of the previous page unchanged", field="cursor", value=text) from None
    except ValueError as e:
        raise InvalidArgumentError(f"cursor does not fit this query ({e}): pass the next_cursor of the previous "
                                   "page, with the same other parameters", field="cursor", value=text) from None
    return Cursor(query, runs, after)


def _shown(text: object) -> str:
    return repr(text) if not isinstance(text, str) or len(text) <= 40 else repr(text[:40] + "...")


def _segments(runs: dict[dt.date, str]) -> list[list[str]]:
    """Consecutive dates with the same run collapse to [first, last, run]."""
    out: list[list[str]] = []
    for day in sorted(runs):
        run = runs[day]
        if out and out[-1][2] == run and dt.date.fromisoformat(out[-1][1]) + dt.timedelta(days=1) == day:
            out[-1][1] = day.isoformat()
        else:
            out.append([day.isoformat(), day.isoformat(), run])
    return out


def _expand(segments: object) -> dict[dt.date, str]:
    if not isinstance(segments, list):
        raise ValueError("bad run map")
    runs: dict[dt.date, str] = {}
    total = 0
    for seg in segments:
        if not isinstance(seg, list) or len(seg) != 3 or not all(isinstance(s, str) for s in seg):
            raise ValueError("bad run map")
        first, last = dt.date.fromisoformat(seg[0]), dt.date.fromisoformat(seg[1])
        total += (last - first).days + 1
        if not RUN_ID_RE.match(seg[2]) or last < first or total > MAX_PINNED_DAYS:
            raise ValueError("bad run map")
        for i in range((last - first).days + 1):
            runs[first + dt.timedelta(days=i)] = seg[2]
    return runs
