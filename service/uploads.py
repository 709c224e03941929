"""Receiving an uploaded file: the body is streamed to a file in the lake's staging area,
never held in memory. The size cap is Litestar's ``request_max_body_size`` (set from
``Settings.max_upload_bytes``): it answers 413 from Content-Length up front, or as soon as
a chunked body passes the cap."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from litestar import Request

from datalake.lake import Lake

UploadFormat = Literal["csv", "parquet", "arrow"]
_FORMATS: dict[str, UploadFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
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
        yield path, upload_format(request.headers.get("content-type"))
