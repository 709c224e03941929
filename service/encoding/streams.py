"""Streamed responses: an Arrow IPC stream from pyarrow's stream writer, or CSV, sent batch by batch in pieces."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
from litestar import Request
from litestar.response import Stream

from ..negotiation import MEDIA_TYPES, Format
from .text import render

PIECE_BYTES = 1 << 18

Parts = list  # of bytes and pa.Buffer: what a writer wrote for one batch


def stream_response(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: Format, *,
                    headers: dict[str, str] | None = None, compression: str | None = None) -> Stream:
    """Send ``batches`` as they come: an Arrow IPC stream (its buffers compressed with
    ``compression``, lz4 or zstd, if given; each batch's dictionaries sent when they differ
    from the last batch's), or CSV with one header line."""
    if fmt is Format.ARROW:
        chunks = arrow_chunks(request, schema, batches, fmt, compression)
    else:
        chunks = csv_chunks(request, schema, batches, fmt)
    return Stream(_pieces(chunks), media_type=MEDIA_TYPES[fmt], headers=headers or {})


def pieces_of(parts: Parts, piece: int = PIECE_BYTES) -> Iterator[bytes]:
    """One chunk's parts as bytes of ``piece`` bytes, the last shorter; each byte copied once."""
    segments: list[memoryview] = []
    room = piece
    for part in parts:
        view = memoryview(part)
        while len(view):
            segments.append(view[:room])
            room -= len(segments[-1])
            view = view[len(segments[-1]):]
            if not room:
                yield b"".join(segments)
                segments, room = [], piece
    if segments:
        yield b"".join(segments)


async def _pieces(chunks: Iterator[Parts], piece: int = PIECE_BYTES) -> AsyncIterator[bytes]:
    """``chunks`` (each produced in a worker thread) as bytes of ``piece`` bytes (the last shorter).

    A batch's message is several MB; copied whole (to bytes, by the server's chunk framing,
    into the transport's buffer) each copy lands in freshly faulted-in pages. Pieces of a
    quarter MB reuse the same few allocations while hot in cache, and the socket takes
    each one whole. Each byte is copied once, from the writer's buffers (the batch's own,
    for uncompressed Arrow) into its piece, before the next chunk is asked for. One thread
    hand-off per chunk, not per piece.

    When the client leaves, the generator is closed only once no thread is inside it: a
    worker may still be producing the next chunk (cancelling the wait does not stop it), and
    closing under it would release the batches it is reading."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future | None = None
    try:
        while True:
            pending = loop.run_in_executor(None, next, chunks, None)
            parts = await asyncio.shield(pending)  # a cancelled wait leaves `pending` running
            pending = None
            if parts is None:
                break
            for bytes_ in pieces_of(parts, piece):  # a chunk's last piece goes before the next is made
                yield bytes_
    finally:
        close = getattr(chunks, "close", None)
        if close and pending is not None and not pending.done():
            pending.add_done_callback(lambda _: close())  # after the worker has left the generator
        elif close:
            close()


class _Chunks:
    """A write-only file that hands back what was written since the last ``take``. With
    ``copy=False`` the parts are kept as written: for a writer that hands over buffers it
    never writes to again (the IPC writer's are the batch's own, or new ones); the CSV
    writer reuses its buffer, so its parts are copied."""

    def __init__(self, copy: bool) -> None:
        self.parts: Parts = []
        self.closed = False
        self.copy = copy

    def write(self, data: bytes | pa.Buffer) -> int:
        self.parts.append(bytes(data) if self.copy and not isinstance(data, bytes) else data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> Parts:
        data, self.parts = self.parts, []
        return data


def arrow_chunks(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: Format,
                 compression: str | None = None) -> Iterator[Parts]:
    """The Arrow IPC stream of ``batches``: its schema, then per batch its dictionaries (when
    new) and its message, then the end marker."""
    out = _Chunks(copy=False)
    options = ipc.IpcWriteOptions(compression=compression)
    try:
        with ipc.new_stream(pa.PythonFile(out, mode="w"), schema, options=options) as writer:
            yield out.take()
            for batch in batches:
                writer.write_batch(batch if batch.schema.equals(schema) else batch.cast(schema))
                _count_rows(request, fmt, batch.num_rows)
                yield out.take()
        yield out.take()
    finally:
        _close(batches)


def csv_chunks(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
               fmt: Format) -> Iterator[Parts]:
    out = _Chunks(copy=True)
    rendered = render(schema.empty_table()).schema
    try:
        with pcsv.CSVWriter(pa.PythonFile(out, mode="w"), rendered) as writer:
            for batch in batches:
                writer.write_table(render(batch))
                _count_rows(request, fmt, batch.num_rows)
                yield out.take()
        yield out.take()
    finally:
        _close(batches)


def _close(batches: Iterable[pa.RecordBatch]) -> None:
    close = getattr(batches, "close", None)
    if close:
        close()


def _count_rows(request: Request, fmt: Format, n: int) -> None:
    metrics = request.app.state.get("metrics")
    if metrics is not None:
        metrics.rows_served(request.scope.get("path_template") or request.url.path, fmt.value, n)
