"""The three encodings of a result (which one a request gets is ``service.negotiation``).

JSON and CSV render values the same way: decimals as strings with their fixed scale
(``"1.343"``, ``"0.0040"``), instants as ISO 8601 in New Zealand time with the offset
(``2018-06-14T00:30:00+12:00``), dates as ``YYYY-MM-DD``. Arrow IPC keeps the lake's types
(decimal128, UTC timestamps) and goes out batch by batch for streams."""
from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
from litestar import Request, Response
from litestar.response import Stream

from datalake.errors import InvalidArgumentError
from datalake.schema import MARKET_TZ
from datalake.serving import numbers

from .negotiation import JSON_MEDIA_TYPE, MEDIA_TYPES, Format

# -- rendering -------------------------------------------------------------------------

def _render_column(col: pa.ChunkedArray | pa.Array, flat: bool) -> pa.ChunkedArray | pa.Array:
    t = col.type
    if flat and (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return pc.binary_join(col, " ")
    if pa.types.is_timestamp(t):
        return _instants(col)
    if pa.types.is_decimal(t) or pa.types.is_date(t):
        return pc.cast(col, pa.string())
    return col


def _instants(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ISO 8601 in market time with the offset, e.g. 2018-06-14T00:30:00+12:00. Whole-second
    instants come from a per-process cache of the text of each instant already seen (a
    lake's reads fall on a few thousand half hours), the rest are built from casts."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count or not len(col):
        return _instants_built(col)
    utc = col.cast(pa.timestamp("us", tz=col.type.tz or "UTC")).cast(pa.int64()).to_numpy()
    if (utc % 1_000_000).any():
        return _instants_built(col)
    return _INSTANTS.text(utc)


class _InstantCache:
    """Text of whole-second instants (UTC microseconds -> ISO 8601 in market time), kept as
    a sorted key array and the matching strings; a lookup is a binary search and a take.
    Thread-safe: a lookup reads one (keys, texts) pair that is replaced, never changed."""

    MAX = 1_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: tuple[np.ndarray, pa.Array] = (np.zeros(0, np.int64), pa.array([], pa.string()))

    def text(self, utc_us: np.ndarray) -> pa.Array:
        keys, texts = self._table
        pos = np.searchsorted(keys, utc_us)
        found = pos < len(keys)
        found[found] = keys[pos[found]] == utc_us[found]
        if not found.all():
            keys, texts = self._add(np.unique(utc_us[~found]))
            pos = np.minimum(np.searchsorted(keys, utc_us), len(keys) - 1)
            if not (keys[pos] == utc_us).all():  # the cache was full and started again
                return _instants_built(pa.array(utc_us, pa.timestamp("us", tz="UTC")))
        return texts.take(pa.array(pos))

    def _add(self, new: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        made = _instants_built(pa.array(new, pa.timestamp("us", tz="UTC")))
        with self._lock:
            keys, texts = self._table
            fresh = ~np.isin(new, keys)
            new, made = new[fresh], made.filter(pa.array(fresh))
            if len(keys) + len(new) > self.MAX:
                keys, texts = np.zeros(0, np.int64), pa.array([], pa.string())
            merged = np.concatenate([keys, new])
            order = np.argsort(merged, kind="stable")
            self._table = (merged[order], pa.concat_arrays([texts, made]).take(pa.array(order)))
            return self._table


def _instants_built(col: pa.Array) -> pa.Array:
    """``_instants`` from casts alone (pyarrow's strftime with a time zone costs ~10 us a value)."""
    utc = col.cast(pa.timestamp("us", tz=col.type.tz or "UTC"))
    local = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=MARKET_TZ)))
    offset_us = pc.subtract(local.cast(pa.int64()), utc.cast(pa.int64()))
    micros = local.drop_null().cast(pa.int64()).to_numpy(zero_copy_only=False)
    whole = not (micros % 1_000_000).any()
    text = pc.cast(local.cast(pa.timestamp("s")) if whole else local, pa.string())
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    offsets = pc.unique(offset_us)
    labels = pa.array([_offset_label(o) for o in offsets.to_pylist()], pa.string())
    suffix = labels.take(pc.index_in(offset_us, value_set=offsets))
    return pc.binary_join_element_wise(text, suffix, "")


_INSTANTS = _InstantCache()


def _offset_label(offset_us: int | None) -> str:
    if offset_us is None:
        return ""
    sign = "-" if offset_us < 0 else "+"
    minutes = abs(offset_us) // 60_000_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def render(table: pa.Table | pa.RecordBatch, *, flat: bool = False) -> pa.Table:
    """The table with decimals, dates and instants as the strings JSON and CSV show;
    ``flat`` (for CSV) also joins lists with spaces."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    return pa.table({name: _render_column(table[name], flat) for name in table.column_names})


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    return render(table).to_pylist()


_ROWS = "\x00rows\x00"  # stands for the rows in an encoded envelope
_ROWS_JSON = msgspec.json.encode(_ROWS)


def json_array(table: pa.Table) -> bytes | None:
    """The rendered rows of ``table`` as a JSON array of objects, byte for byte what
    msgspec makes of ``json_rows(table)``, assembled column-wise in Arrow without a Python
    object per value; None when a column needs what only the general path does (nulls,
    floats, lists, text to escape)."""
    if not table.num_rows:
        return b"[]"
    rows = _READ_SLOTS.rows(table) if table.schema.equals(_READS_SCHEMA) else None
    if rows is not None:
        return _array_of(rows)
    rendered = render(table)
    parts: list[pa.Array | pa.Scalar] = []
    text = "{"
    for name in rendered.column_names:
        col = rendered[name]
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if col.null_count or not name.isidentifier():
            return None
        if pa.types.is_string(col.type):
            if _needs_escape(col):
                return None
            parts += [pa.scalar(f'{text}"{name}":"', pa.string()), col]
            text = '",'
        elif pa.types.is_integer(col.type):
            parts += [pa.scalar(f'{text}"{name}":', pa.string()), pc.cast(col, pa.string())]
            text = ","
        else:
            return None
    parts.append(pa.scalar(text[:-1] + "},", pa.string()))
    return _array_of(pc.binary_join_element_wise(*parts, pa.scalar("", pa.string())))


def _array_of(rows: pa.Array) -> bytes:
    """``[...]`` from rows' text ``{...},`` each: it is contiguous in the data buffer."""
    start, stop = _text_range(rows)
    return b"".join((b"[", memoryview(rows.buffers()[2])[start:stop - 1], b"]"))


# One ICP's raw reads (query 1): read_date and trading_period follow from the instant.
_READS_SCHEMA = pa.schema([("read_timestamp", pa.timestamp("us", tz="UTC")), ("read_date", pa.date32()),
                           ("trading_period", pa.int16()), ("interval_read", pa.decimal128(18, 3)),
                           ("energy_flow_direction", pa.string())])
_DIRECTION_TAILS = pa.array(['","energy_flow_direction":"I"},', '","energy_flow_direction":"X"},'])


class _SlotCache:
    """The JSON of a raw read up to its amount, per half-hour instant seen
    (``{"read_timestamp":"...","read_date":"...","trading_period":N,"interval_read":"``),
    with the date and period it was made from. A row of one ICP's reads is then that text,
    its amount and one of two tails: three parts to join instead of eleven, and one take
    instead of three renderings. Each row's date and period are checked against the
    cached ones; a table that differs goes the general way. Thread-safe as ``_InstantCache``."""

    MAX = 1_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table = self._empty()

    @staticmethod
    def _empty() -> tuple:
        return np.zeros(0, np.int64), pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(0, np.int16)

    def rows(self, table: pa.Table) -> pa.Array | None:
        """Each row's JSON object and a comma, or None when the table does not qualify."""
        table = table.combine_chunks()
        cols = [table.column(i).chunk(0) if table.column(i).num_chunks else pa.array([], table.schema[i].type)
                for i in range(table.num_columns)]
        if any(c.null_count for c in cols):
            return None
        ts, day, period, amount, direction = cols
        utc, days, periods = numbers(ts, np.int64), numbers(day, np.int32), numbers(period, np.int16)
        codes = _direction_codes(direction)
        if codes is None:
            return None
        keys, texts, known_days, known_periods = self._table
        pos = np.searchsorted(keys, utc)
        found = pos < len(keys)
        found[found] = keys[pos[found]] == utc[found]
        if not found.all():
            new, first = np.unique(utc[~found], return_index=True)
            rows = np.flatnonzero(~found)[first]
            keys, texts, known_days, known_periods = self._add(new, days[rows], periods[rows])
            pos = np.minimum(np.searchsorted(keys, utc), len(keys) - 1)
            if not (keys[pos] == utc).all():  # the cache was full and started again
                return None
        if not ((known_days[pos] == days).all() and (known_periods[pos] == periods).all()):
            return None
        return pc.binary_join_element_wise(texts.take(pa.array(pos)), pc.cast(amount, pa.string()),
                                           _DIRECTION_TAILS.take(pa.array(codes)), "")

    def _add(self, new: np.ndarray, days: np.ndarray, periods: np.ndarray) -> tuple:
        made = pc.binary_join_element_wise(
            '{"read_timestamp":"', _instants_built(pa.array(new, pa.timestamp("us", tz="UTC"))),
            '","read_date":"', pc.cast(pa.array(days, pa.int32()).cast(pa.date32()), pa.string()),
            '","trading_period":', pc.cast(pa.array(periods), pa.string()), ',"interval_read":"', "")
        with self._lock:
            keys, texts, known_days, known_periods = self._table
            fresh = ~np.isin(new, keys)
            if len(keys) + int(fresh.sum()) > self.MAX:
                keys, texts, known_days, known_periods = self._empty()
                fresh = np.ones(len(new), dtype=bool)
            merged = np.concatenate([keys, new[fresh]])
            order = np.argsort(merged, kind="stable")
            self._table = (merged[order], pa.concat_arrays([texts, made.filter(pa.array(fresh))]).take(pa.array(order)),
                           np.concatenate([known_days, days[fresh]])[order],
                           np.concatenate([known_periods, periods[fresh]])[order])
            return self._table


def _direction_codes(col: pa.Array) -> np.ndarray | None:
    """0 for "I", 1 for "X", from a string array holding only those; None otherwise."""
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    if (np.diff(offsets) != 1).any():
        return None
    letters = np.frombuffer(col.buffers()[2], np.uint8, len(col), int(offsets[0]))
    x = letters == ord("X")
    if not (x | (letters == ord("I"))).all():
        return None
    return x.view(np.int8)


_READ_SLOTS = _SlotCache()


def _text_range(col: pa.Array) -> tuple[int, int]:
    """Where a string array's values lie in its data buffer."""
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    return int(offsets[0]), int(offsets[-1])


def _needs_escape(col: pa.Array) -> bool:
    """Whether any value holds a quote, a backslash or a control character (which JSON escapes)."""
    start, stop = _text_range(col)
    data = np.frombuffer(col.buffers()[2], np.uint8, stop - start, start) if stop > start else np.zeros(0, np.uint8)
    return bool(((data < 0x20) | (data == 0x22) | (data == 0x5C)).any())


def json_body(table: pa.Table, envelope: Callable[[list[dict]], Any]) -> bytes:
    """The JSON document ``envelope(json_rows(table))``, encoded as the service encodes it."""
    rows = json_array(table)
    if rows is not None:
        head = msgspec.json.encode(envelope(_ROWS))  # type: ignore[arg-type]
        if head.count(_ROWS_JSON) == 1:
            return head.replace(_ROWS_JSON, rows)
    return msgspec.json.encode(envelope(json_rows(table)))


def csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(render(table, flat=True), sink)
    return sink.getvalue().to_pybytes()


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


# -- responses -------------------------------------------------------------------------

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


def table_response(request: Request, table: pa.Table, fmt: Format, envelope: Callable[[list[dict]], Any], *,
                   headers: dict[str, str] | None = None, tag: str | None = None, status_code: int = 200) -> Response:
    """``table`` in ``fmt``: JSON wraps the rendered rows with ``envelope``; CSV and Arrow
    send the rows alone (envelope fields that matter go in ``headers``)."""
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


def stream_response(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: Format, *,
                    headers: dict[str, str] | None = None, compression: str | None = None,
                    same_dictionaries: bool = False) -> Stream:
    """Send ``batches`` as they come: an Arrow IPC stream (its buffers compressed with
    ``compression``, lz4 or zstd, if given), or CSV with one header line.
    ``same_dictionaries``: the batches' dictionary columns all hold the first batch's
    dictionaries, which are then sent once."""
    if fmt is Format.ARROW:
        chunks = _arrow_chunks(request, schema, batches, fmt, compression, same_dictionaries)
    else:
        chunks = _csv_chunks(request, schema, batches, fmt)
    return Stream(_pieces(chunks), media_type=MEDIA_TYPES[fmt], headers=headers or {})


PIECE_BYTES = 1 << 18


async def _pieces(chunks: Iterator[bytes | pa.Buffer], piece: int = PIECE_BYTES) -> AsyncIterator[bytes]:
    """``chunks`` (each produced in a worker thread) as bytes of at most ``piece`` bytes.

    A batch's message is several MB; copied whole (to bytes, by the server's chunk framing,
    into the transport's buffer) each copy lands in freshly faulted-in pages. Pieces of a
    quarter MB reuse the same few allocations while hot in cache, and the socket takes
    each one whole. One thread hand-off per chunk, not per piece.

    When the client leaves, the generator is closed only once no thread is inside it: a
    worker may still be producing the next chunk (cancelling the wait does not stop it), and
    closing under it would release the batches it is reading."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future | None = None
    try:
        while True:
            pending = loop.run_in_executor(None, next, chunks, None)
            chunk = await asyncio.shield(pending)  # a cancelled wait leaves `pending` running
            pending = None
            if chunk is None:
                break
            if len(chunk) <= piece:
                yield chunk if isinstance(chunk, bytes) else chunk.to_pybytes()
                continue
            view = memoryview(chunk)
            for at in range(0, len(view), piece):
                yield bytes(view[at:at + piece])
    finally:
        close = getattr(chunks, "close", None)
        if close and pending is not None and not pending.done():
            pending.add_done_callback(lambda _: close())  # after the worker has left the generator
        elif close:
            close()


class _Chunks:
    """A write-only file that hands back what was written since the last ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # the end-of-stream marker of the Arrow IPC stream format


def _arrow_chunks(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                  fmt: Format, compression: str | None = None,
                  same_dictionaries: bool = False) -> Iterator[bytes | pa.Buffer]:
    dictionaries = any(pa.types.is_dictionary(f.type) for f in schema)
    if compression or (dictionaries and not same_dictionaries):  # these need the stream writer
        yield from _arrow_writer_chunks(request, schema, batches, fmt, compression)
        return
    # The stream is its schema message, one message per batch, then the end marker: each
    # batch is serialized once into one buffer, without the writer's many small writes.
    # Dictionaries that every batch shares go out once, with the first batch, from the writer.
    try:
        batches = iter(batches)
        if dictionaries:
            out = _Chunks()
            with ipc.new_stream(pa.PythonFile(out, mode="w"), schema) as writer:
                first = next(batches, None)
                if first is not None:
                    writer.write_batch(first)
                    _count_rows(request, fmt, first.num_rows)
                yield out.take()
        else:
            yield schema.serialize().to_pybytes()
        for batch in batches:
            if batch.schema != schema:
                batch = batch.cast(schema)
            yield batch.serialize()
            _count_rows(request, fmt, batch.num_rows)
        yield _EOS
    finally:
        _close(batches)


def _arrow_writer_chunks(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                         fmt: Format, compression: str | None = None) -> Iterator[bytes]:
    out = _Chunks()
    options = ipc.IpcWriteOptions(compression=compression)
    try:
        with ipc.new_stream(pa.PythonFile(out, mode="w"), schema, options=options) as writer:
            yield out.take()
            for batch in batches:
                writer.write_batch(batch)
                _count_rows(request, fmt, batch.num_rows)
                yield out.take()
        yield out.take()
    finally:
        _close(batches)


def _csv_chunks(request: Request, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                fmt: Format) -> Iterator[bytes]:
    out = _Chunks()
    rendered = render(schema.empty_table(), flat=True).schema
    try:
        with pcsv.CSVWriter(pa.PythonFile(out, mode="w"), rendered) as writer:
            for batch in batches:
                writer.write_table(render(batch, flat=True))
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
