"""How the client moves bytes: request parameters and bodies, Arrow streams read from an HTTP
response without copying, and answers checked for problems."""
from __future__ import annotations

import datetime as dt
import http.client
import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from .errors import ApiError

ARROW = "application/vnd.apache.arrow.stream"
DateLike = str | dt.date
Frame = Any  # a pyarrow.Table, a pyarrow.RecordBatch or a polars.DataFrame


class _Body(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a streamed response body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class _ResponseFile:
    """An http.client response as the file pyarrow reads: ``read(n)`` fills one fresh
    buffer with ``readinto`` across the body's chunks (http.client's own ``read(n)`` of a
    chunked body joins the chunks, a second copy of every message), and pyarrow keeps that
    buffer, uncopied, as the batch's memory."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response

    @property
    def closed(self) -> bool:
        return self.response.closed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes | memoryview:
        if n is None or n < 0:
            return self.response.read()
        view = memoryview(np.empty(n, dtype=np.uint8))  # not zero-filled: only the bytes read are returned
        got = 0
        while got < n:
            k = self.response.readinto(view[got:])
            if not k:
                break
            got += k
        return view[:got] if got < n else view

    def close(self) -> None:
        self.response.close()


def _params(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    response.read()
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    raise ApiError(response.status_code, problem if isinstance(problem, dict) else {"detail": str(problem)})


def _table(response: httpx.Response) -> pa.Table:
    return ipc.open_stream(io.BytesIO(response.content)).read_all()


def _arrow_table(data: Frame) -> pa.Table:
    if hasattr(data, "to_arrow") and not isinstance(data, pa.Table | pa.RecordBatch):
        data = data.to_arrow()  # a polars.DataFrame
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        raise TypeError(f"cannot upload a {type(data).__name__}: give a pyarrow Table or a Polars DataFrame"
                        " (or, over HTTP, file bytes)")
    return data


def _body(data: bytes | Frame, content_type: str | None) -> tuple[bytes, str]:
    if isinstance(data, bytes | bytearray):
        return bytes(data), content_type or "application/octet-stream"
    data = _arrow_table(data)
    sink = io.BytesIO()
    with ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return sink.getvalue(), ARROW


def _empty_reads(dictionary: bool = False) -> pa.Table:
    text = pa.dictionary(pa.int32(), pa.string()) if dictionary else pa.string()
    letter = pa.dictionary(pa.int8(), pa.string()) if dictionary else pa.string()
    return pa.schema([("icp_id", text), ("read_timestamp", pa.timestamp("us", tz="UTC")),
                      ("read_date", pa.date32()), ("trading_period", pa.int16()),
                      ("interval_read", pa.decimal128(18, 3)), ("energy_flow_direction", letter)]).empty_table()
