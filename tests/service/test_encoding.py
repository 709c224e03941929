"""The one JSON encoder gives, for every column type, the bytes msgspec makes of the rows as
Python values (the reference here); instants and dates are the text Python gives; the Arrow
stream is pyarrow's stream writer's, cut into pieces that add up to it."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import math
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import msgspec
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
import pytest

from datalake import schema
from service.encoding import Format, csv_bytes, json_array, json_body, render, streams, text
from service.structs import IcpReads

UTC = dt.timezone.utc
NZ = ZoneInfo(schema.MARKET_TZ)


def reads_table(n: int = 200, start: dt.datetime = dt.datetime(2018, 3, 31, 10, tzinfo=UTC)) -> pa.Table:
    """Half hours across New Zealand's April 2018 DST change (+13:00 -> +12:00)."""
    ts = [start + dt.timedelta(minutes=30 * i) for i in range(n)]
    return pa.table({
        "read_timestamp": pa.array(ts, schema.TIMESTAMP),
        "read_date": pa.array([t.date() for t in ts], pa.date32()),
        "trading_period": pa.array([i % 50 + 1 for i in range(n)], pa.int16()),
        "interval_read": pa.array([Decimal(i * 7) / 1000 for i in range(n)], schema.READ_DECIMAL),
        "energy_flow_direction": pa.array(["X" if i % 3 else "I" for i in range(n)]),
    })


def envelope(rows):
    return IcpReads(icp_id="0000012345TR9A1", start="2018-03-31", end="2018-04-04", as_of="ing-00000001",
                    reads=rows)


def python_value(value, fraction: bool):
    """What the service shows for one value, from Python's own types."""
    if isinstance(value, dt.datetime):
        local = value.replace(tzinfo=value.tzinfo or UTC).astimezone(NZ)
        return local.isoformat(timespec="microseconds" if fraction else "seconds")
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    if isinstance(value, list):
        return [python_value(v, fraction) for v in value]
    return value


def reference(table: pa.Table) -> list[dict]:
    fractions = {name: any(v is not None and v.microsecond for v in table[name].to_pylist())
                 for name in table.column_names if pa.types.is_timestamp(table.schema.field(name).type)}
    return [{k: python_value(v, fractions.get(k, False)) for k, v in row.items()} for row in table.to_pylist()]


def test_reads_are_byte_for_byte_msgspec_of_the_rows():
    table = reads_table()
    assert json_body(table, envelope) == msgspec.json.encode(envelope(reference(table)))
    for part in (table.slice(17, 40), pa.concat_tables([table.slice(0, 5), table.slice(5)]), table.slice(0, 0)):
        assert json_body(part, envelope) == msgspec.json.encode(envelope(reference(part)))
    assert json_array(table.slice(0, 0)) == b"[]"


def check(table: pa.Table) -> None:
    assert json_array(table) == msgspec.json.encode(reference(table))
    assert json_array(table.slice(1)) == msgspec.json.encode(reference(table.slice(1)))


CONTROLS = "".join(chr(c) for c in range(0x20))


@pytest.mark.parametrize("values", [
    ['say "hi"', "ok", "x"],                          # quotes
    ["back\\slash", "\\\\", '\\"'],                  # backslashes, also before a quote
    ["line\nbreak", CONTROLS, "\x7f é Māori ✓ 😀"],  # every control character; the rest as is
    ["x", None, "y"],                                 # nulls
    ["", "", ""],                                     # all empty
    [None, None, None],
])
def test_text_is_escaped_as_msgspec_escapes_it(values):
    check(pa.table({"id": pa.array([1, 2, 3], pa.int32()), "value": pa.array(values, pa.string())}))
    check(pa.table({"value": pa.array(values, pa.large_string())}))
    check(pa.table({"value": pa.array(values).dictionary_encode()}))


def test_column_names_are_escaped():
    check(pa.table({'a "quoted"\nname': pa.array([1, 2]), "é": pa.array(["x", "y"])}))


@pytest.mark.parametrize("column", [
    pa.array([1, None, -3], pa.int64()),
    pa.array([0, 2**63 - 1, -2**63], pa.int64()),
    pa.array([255, None, 0], pa.uint8()),
    pa.array([True, None, False]),
    pa.array([Decimal("1.343"), None, Decimal("-0.004")], schema.READ_DECIMAL),
    pa.array([Decimal("12345678901234567890.1234"), Decimal("0"), None], pa.decimal128(38, 4)),
    pa.array([dt.date(2018, 6, 1), None, dt.date(1, 1, 1)], pa.date32()),
    pa.array([dt.datetime(2018, 6, 1, 0, 0), None, dt.datetime(2018, 12, 1, 0, 0)], schema.TIMESTAMP),
    pa.array([None, None, None], pa.null()),
])
def test_every_type_with_nulls(column):
    check(pa.table({"id": pa.array([1, 2, 3], pa.int32()), "value": column}))


def test_floats_as_msgspec_writes_them():
    values = [1.0, 0.1, 1e20, 1e16, 1e15, 1e-7, 2.5e-5, -0.0, 5e-324, 1.5e300, 123.456, None,
              math.nan, math.inf, -math.inf, 12345678.9]
    check(pa.table({"f": pa.array(values, pa.float64())}))
    check(pa.table({"f": pa.array([0.1, None, 3.0], pa.float32())}))


def test_lists_as_arrays():
    runs = pa.array([["run-00000001"], [], None, ["a", None, 'q"uote'], ["x", "y", "z"]], pa.list_(pa.string()))
    table = pa.table({"n": pa.array(range(5)), "runs": runs})
    check(table)
    check(table.slice(2, 2))
    check(pa.table({"ints": pa.array([[1, 2], [], [None]], pa.large_list(pa.int64()))}))
    check(pa.table({"empty": pa.array([[], []], pa.list_(pa.string()))}))


def test_a_type_without_a_rendering_is_refused():
    with pytest.raises(TypeError, match="no JSON rendering"):
        json_array(pa.table({"s": pa.array([{"a": 1}])}))


def instants(values: list, typ: pa.DataType = schema.TIMESTAMP) -> list:
    return text.instants(pa.array(values, typ)).to_pylist()


def test_instants_are_pythons_text_in_market_time():
    start = dt.datetime(1990, 1, 1, tzinfo=UTC)
    values = [start + dt.timedelta(hours=7 * i, seconds=i) for i in range(50_000)]  # 1990-2030, every DST change
    assert instants(values) == [v.astimezone(NZ).isoformat() for v in values]
    # Around the changes of 2018 to the second, and without a time zone (UTC).
    edges = [dt.datetime(2018, 3, 31, 13, 59, 59), dt.datetime(2018, 3, 31, 14, 0, 0),
             dt.datetime(2018, 9, 29, 13, 59, 59), dt.datetime(2018, 9, 29, 14, 0, 0)]
    assert instants(edges, pa.timestamp("s")) == ["2018-04-01T02:59:59+13:00", "2018-04-01T02:00:00+12:00",
                                                 "2018-09-30T01:59:59+12:00", "2018-09-30T03:00:00+13:00"]


def test_a_fraction_of_a_second_shows_on_every_instant_of_the_column():
    odd = [dt.datetime(2018, 6, 1, 0, 0, 0, 500, tzinfo=UTC), None, dt.datetime(2018, 6, 1, tzinfo=UTC)]
    assert instants(odd) == ["2018-06-01T12:00:00.000500+12:00", None, "2018-06-01T12:00:00.000000+12:00"]
    assert instants([odd[2], None]) == ["2018-06-01T12:00:00+12:00", None]
    assert instants([], schema.TIMESTAMP) == []


def test_a_zone_west_of_greenwich_has_a_minus(monkeypatch):
    zone = "America/Santiago"
    monkeypatch.setattr(text, "_MARKET", text._Zone(zone))
    monkeypatch.setattr(text, "_INSTANTS", text._TextCache(text._instant_text, 25))
    values = [dt.datetime(2018, 1, 1, tzinfo=UTC) + dt.timedelta(hours=5 * i) for i in range(3000)]
    assert instants(values) == [v.astimezone(ZoneInfo(zone)).isoformat() for v in values]


def test_a_text_cache_that_fills_up_starts_again_and_stays_exact(monkeypatch):
    monkeypatch.setattr(text, "_INSTANTS", text._TextCache(text._instant_text, 25))
    monkeypatch.setattr(text._TextCache, "MAX", 150)
    start = dt.datetime(2018, 3, 31, 10, tzinfo=UTC)
    first = [start + dt.timedelta(minutes=30 * i) for i in range(120)]
    second = [start + dt.timedelta(days=60, minutes=30 * i) for i in range(120)]
    for values in (first, first[::-1] + second, second, first + second[::3], first):
        assert instants(values) == [v.astimezone(NZ).isoformat() for v in values]
        assert len(text._INSTANTS._table[0]) <= 240


def test_a_text_cache_shared_by_threads_stays_exact(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(text, "_INSTANTS", text._TextCache(text._instant_text, 25))
    monkeypatch.setattr(text._TextCache, "MAX", 300)  # restarts while other threads read
    start = dt.datetime(2018, 1, 1, tzinfo=UTC)
    spans = [[start + dt.timedelta(minutes=30 * (i + k * 37)) for i in range(100)] for k in range(40)]

    def exact(values: list) -> bool:
        return instants(values) == [v.astimezone(NZ).isoformat() for v in values]
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(exact, spans * 5))


def test_dates_are_iso():
    days = pa.array(list(range(-719_162, 2_932_896, 997)) + [None], pa.date32())  # 0001-01-01 .. 9999-12-31
    assert text.dates(days).to_pylist() == [d.isoformat() if d else None for d in days.to_pylist()]
    assert text.dates(pa.array([dt.date(2018, 6, 1)], pa.date64())).to_pylist() == ["2018-06-01"]


def test_csv_shows_the_same_text():
    table = reads_table(n=3).append_column("runs", pa.array([["a", "b"], [], ["c"]], pa.list_(pa.string())))
    assert csv_bytes(table).decode().splitlines() == [
        '"read_timestamp","read_date","trading_period","interval_read","energy_flow_direction","runs"',
        '"2018-03-31T23:00:00+13:00","2018-03-31",1,"0.000","I","a b"',
        '"2018-03-31T23:30:00+13:00","2018-03-31",2,"0.007","X",""',
        '"2018-04-01T00:00:00+13:00","2018-03-31",3,"0.014","X","c"']  # (a UTC date: any date will do)
    assert pcsv.read_csv(io.BytesIO(csv_bytes(table))).num_rows == 3
    assert render(table).schema.field("read_timestamp").type == pa.string()


REQUEST = SimpleNamespace(app=SimpleNamespace(state={}), scope={}, url=SimpleNamespace(path="/"))


def streamed(schema_: pa.Schema, batches: list[pa.RecordBatch], fmt: Format = Format.ARROW, **options) -> list[bytes]:
    chunks = (streams.arrow_chunks(REQUEST, schema_, iter(batches), fmt, **options) if fmt is Format.ARROW
              else streams.csv_chunks(REQUEST, schema_, iter(batches), fmt))

    async def collect() -> list[bytes]:
        return [piece async for piece in streams._pieces(chunks, piece=1000)]
    return asyncio.run(collect())


def test_arrow_stream_is_what_the_stream_writer_writes_in_pieces():
    table = reads_table(n=1000)
    batches = table.to_batches(max_chunksize=300)
    pieces = streamed(table.schema, batches)
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    assert b"".join(pieces) == sink.getvalue()
    assert max(map(len, pieces)) == 1000
    assert ipc.open_stream(b"".join(pieces)).read_all().equals(table)


def test_arrow_stream_with_a_dictionary_per_batch_and_compression():
    ids = [pa.array(["A", "B", "A"]).dictionary_encode(), pa.array(["C", "C", "D"]).dictionary_encode()]
    batches = [pa.record_batch({"icp_id": i, "n": pa.array([1, 2, 3])}) for i in ids]
    for compression in (None, "lz4", "zstd"):
        got = ipc.open_stream(b"".join(streamed(batches[0].schema, batches, compression=compression))).read_all()
        assert got["icp_id"].to_pylist() == ["A", "B", "A", "C", "C", "D"]


def test_csv_stream_has_one_header():
    table = reads_table(n=10)
    body = b"".join(streamed(table.schema, table.to_batches(max_chunksize=4), Format.CSV))
    assert body == csv_bytes(table)
