"""Content negotiation, decided in one place: the formats a result can take, and which one a
request gets. ``format=`` wins; otherwise ``Accept``; otherwise the endpoint's first format.

``Accept`` is read as RFC 9110 says: each media range has a quality (``q``, default 1;
``q=0`` refuses the type); an offered type takes the quality of the most specific range
that matches it (``text/csv`` over ``text/*`` over ``*/*``). Of the offered types with a
quality above 0, the highest wins; ties go to the more specific range, then the range the
client listed first, then the endpoint's order. Parameters other than ``q``
(``charset=utf-8``, ``version=0.0.4``) do not take part. An absent or empty ``Accept``
accepts anything; one that accepts nothing offered is a 406."""
from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from litestar import Request

from datalake.errors import InvalidArgumentError

from .problems import NotAcceptableError

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
CSV_MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    ARROW = "arrow"


MEDIA_TYPES = {Format.JSON: JSON_MEDIA_TYPE, Format.CSV: CSV_MEDIA_TYPE, Format.ARROW: ARROW_MEDIA_TYPE}
FORMAT_OF = {media: fmt for fmt, media in MEDIA_TYPES.items()}
TABULAR = (Format.JSON, Format.CSV, Format.ARROW)
STREAMED = (Format.ARROW, Format.CSV)


def bare(media_type: str) -> str:
    """``type/subtype`` of a media type, lower case, without parameters."""
    return media_type.split(";", 1)[0].strip().lower()


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, quality) of each media range of an Accept header."""
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        kind, _, sub = bare(media).partition("/")
        if not kind:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    pass
        ranges.append((kind, sub or "*", quality))
    return ranges


def preferred(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type (``type/subtype``) that ``accept`` prefers, None if it
    accepts none of them; the first offered when ``accept`` is absent or empty."""
    if accept is None or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    best: tuple | None = None
    for order, media in enumerate(offered):
        kind, _, sub = bare(media).partition("/")
        matches = [(2 if (k, s) == (kind, sub) else 1 if (k, s) == (kind, "*") else 0, -position, quality)
                   for position, (k, s, quality) in enumerate(ranges)
                   if (k, s) in ((kind, sub), (kind, "*"), ("*", "*"))]
        if not matches:
            continue
        specificity, position, quality = max(matches)  # the most specific range decides
        rank = (quality, specificity, position, -order)
        if quality > 0 and (best is None or rank > best[0]):
            best = (rank, media)
    return best[1] if best else None


def choose(format: str | None, accept: str | None, offered: Sequence[str]) -> str:
    """The media type to answer with, among ``offered``: that of ``format=`` if given
    (400 if it names no format, 406 if the endpoint cannot produce it), else what
    ``accept`` prefers (406 if it accepts none of them)."""
    if format is not None:
        if format not in {f.value for f in Format}:
            raise InvalidArgumentError(f"format must be one of {', '.join(Format)}, got {format!r}",
                                       field="format", value=format)
        media = MEDIA_TYPES[Format(format)]
        if media not in offered:
            raise NotAcceptableError(f"format={format} is not offered here: this endpoint answers "
                                     f"{' or '.join(_names(offered))}", field="format", value=format)
        return media
    media = preferred(accept, offered)
    if media is None:
        raise NotAcceptableError(f"Accept: {accept} accepts nothing this endpoint answers "
                                 f"({' or '.join(offered)})", field="accept", value=accept)
    return media


def negotiate(request: Request, format: str | None, offered: tuple[Format, ...] = TABULAR) -> Format:
    """The format of a tabular result (``choose`` over the formats this endpoint offers)."""
    return FORMAT_OF[choose(format, request.headers.get("accept"), [MEDIA_TYPES[f] for f in offered])]


def _names(offered: Sequence[str]) -> list[str]:
    return [f"format={FORMAT_OF[m]}" if m in FORMAT_OF else m for m in offered]
