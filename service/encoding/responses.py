"""Whole responses: a table as JSON, CSV or Arrow IPC, its ETag and the 304 for it."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
from litestar import Request, Response

from datalake.errors import InvalidArgumentError

from ..negotiation import JSON_MEDIA_TYPE, MEDIA_TYPES, Format
from .jsonenc import json_body
from .streams import _count_rows
from .text import render


def csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(render(table), sink)
    return sink.getvalue().to_pybytes()


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def etag(*parts: object) -> str:
    """A strong ETag for a result fully determined by ``parts`` (a pinned snapshot or run
    and the query's arguments)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(request: Request, tag: str | None) -> Response | None:
    """A 304 if ``If-None-Match`` already names ``tag``."""
    if tag is None:
        return None
    sent = request.headers.get("if-none-match", "")
    if sent.strip() == "*" or tag in [t.strip() for t in sent.split(",")]:
        return Response(content=b"", status_code=304, headers={"ETag": tag})
    return None


def table_response(request: Request, table: pa.Table, fmt: Format, envelope: Callable[[Any], Any], *,
                   headers: dict[str, str] | None = None, tag: str | None = None, status_code: int = 200) -> Response:
    """``table`` in ``fmt``: JSON wraps the rows with ``envelope`` (given them as one
    ``msgspec.Raw``); CSV and Arrow send the rows alone (envelope fields that matter go in
    ``headers``)."""
    headers = dict(headers or {})
    if tag:
        headers["ETag"] = tag
    _count_rows(request, fmt, table.num_rows)
    if fmt is Format.JSON:
        return Response(json_body(table, envelope), status_code=status_code, headers=headers,
                        media_type=JSON_MEDIA_TYPE)
    body = csv_bytes(table) if fmt is Format.CSV else arrow_bytes(table)
    return Response(body, status_code=status_code, headers=headers, media_type=MEDIA_TYPES[fmt])


def check_arrow_only(fmt: Format, **options: object) -> None:
    """A 400 for options of Arrow streams (``compression=``, ``dictionary=``) given for another format."""
    for name, value in options.items():
        if value and fmt is not Format.ARROW:
            raise InvalidArgumentError(f"{name} applies to Arrow streams only, not {fmt}", field=name,
                                       value=str(value))
