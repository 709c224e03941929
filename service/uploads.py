"""Receiving an uploaded file: the body is streamed to a file in the lake's staging area,
never held in memory. The size cap is Litestar's ``request_max_body_size`` (set from
``Settings.max_upload_bytes``): it answers 413 from Content-Length up front, or as soon as
a chunked body passes the cap. A Parquet body whose footer declares far more rows than its
size could hold is refused before any row is read (``check_expansion``)."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from litestar import Request

from datalake.lake import Lake
from datalake.delivery.sources import detect_format

from .problems import PayloadTooLargeError

UploadFormat = Literal["csv", "parquet", "arrow", "eiep3", "eiep13a"]
_FORMATS: dict[str, UploadFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "text/x-eiep3": "eiep3",
    "text/x-eiep13a": "eiep13a",
}


def upload_format(content_type: str | None) -> UploadFormat | None:
    """The format a Content-Type names; None (detect from the content) for any other."""
    if not content_type:
        return None
    return _FORMATS.get(content_type.split(";")[0].strip().lower())


@contextlib.asynccontextmanager
async def received_file(request: Request, lake: Lake) -> AsyncIterator[tuple[Path, UploadFormat | None]]:
    """The request body as a file in a private staging folder, removed afterwards."""
    with lake.staging() as work:
        path = work / "upload"
        with open(path, "wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
        fmt = upload_format(request.headers.get("content-type"))
        check_expansion(path, fmt)
        yield path, fmt


# Parquet compresses honest meter data to about 2 bytes a row; a footer declaring more than
# 20 rows a byte is a decompression bomb (a tiny file of one repeated value, or edited
# metadata), refused before any row is read.
MAX_ROWS_PER_BYTE = 20
ROWS_ALWAYS_ACCEPTED = 1_000_000


def check_expansion(path: Path, fmt: UploadFormat | None) -> None:
    if (fmt or detect_format(path)) != "parquet":
        return
    try:
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError):
        return  # unreadable: the engine reports it with the file's other problems (422)
    size = path.stat().st_size
    if rows > max(ROWS_ALWAYS_ACCEPTED, MAX_ROWS_PER_BYTE * size):
        raise PayloadTooLargeError(f"the Parquet body declares {rows:,} rows in {size:,} bytes, more than "
                                   f"{MAX_ROWS_PER_BYTE} rows a byte: refused as a decompression bomb; "
                                   "nothing was written", field="body", value=f"{rows} rows")
