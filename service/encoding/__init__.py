"""The three encodings of a result (which one a request gets is ``service.negotiation``).

JSON and CSV render values the same way (``text``): decimals as strings with their fixed
scale (``"1.343"``, ``"0.0040"``), instants as ISO 8601 in New Zealand time with the offset
(``2018-06-14T00:30:00+12:00``), dates as ``YYYY-MM-DD``. JSON is built column-wise
(``jsonenc``); Arrow IPC keeps the lake's types (decimal128, UTC timestamps) and, like CSV,
goes out batch by batch for streams (``streams``)."""
from ..negotiation import Format
from . import streams, text
from .jsonenc import json_array, json_body
from .responses import arrow_bytes, check_arrow_only, csv_bytes, etag, not_modified, table_response
from .streams import stream_response
from .text import render

__all__ = ["Format", "arrow_bytes", "check_arrow_only", "csv_bytes", "etag", "json_array", "json_body",
           "not_modified", "render", "stream_response", "streams", "table_response", "text"]
