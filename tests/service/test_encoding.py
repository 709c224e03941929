"""The column-wise JSON renderer gives the same bytes as the row-dict path (or declines),
the instant cache the same text as the casts, and the Arrow stream the same bytes as
pyarrow's stream writer."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

import msgspec
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.ipc as ipc
import pytest

from datalake import schema
from service.encoding import (_READ_SLOTS, Format, _arrow_chunks, _instants, _instants_built, json_array,
                              json_body, json_rows)
from service.structs import IcpReads

UTC = dt.timezone.utc


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


def reference(table: pa.Table) -> bytes:
    return msgspec.json.encode(envelope(json_rows(table)))


def test_json_body_is_byte_for_byte_the_row_path():
    table = reads_table()
    assert json_array(table) is not None
    assert json_body(table, envelope) == reference(table)
    sliced = table.slice(17, 40)
    assert json_body(sliced, envelope) == reference(sliced)
    chunked = pa.concat_tables([table.slice(0, 5), table.slice(5)])
    assert json_body(chunked, envelope) == reference(chunked)
    empty = table.slice(0, 0)
    assert json_body(empty, envelope) == reference(empty)


def test_raw_reads_rows_from_the_slot_cache_are_the_row_path():
    """One ICP's reads take the per-instant cache; rows whose date or period differ from
    what the cache holds for their instant, or with other directions, go the general way."""
    table = reads_table(n=300)
    assert _READ_SLOTS.rows(table) is not None
    assert json_body(table, envelope) == reference(table)
    assert json_body(table.slice(3, 100), envelope) == reference(table.slice(3, 100))  # now all cached
    shifted = table.set_column(2, "trading_period", pa.compute.add(table["trading_period"], pa.scalar(1, pa.int16())))
    assert _READ_SLOTS.rows(shifted) is None
    assert json_body(shifted, envelope) == reference(shifted)
    other_day = table.set_column(1, "read_date", pa.array([dt.date(2018, 1, 1)] * 300, pa.date32()))
    assert _READ_SLOTS.rows(other_day) is None and json_body(other_day, envelope) == reference(other_day)
    two_letters = table.set_column(4, "energy_flow_direction", pa.array(["XI"] * 300))
    assert _READ_SLOTS.rows(two_letters) is None and json_body(two_letters, envelope) == reference(two_letters)
    chunked = pa.concat_tables([table.slice(0, 7), table.slice(7)])
    assert json_body(chunked, envelope) == reference(chunked)


def test_caches_that_fill_up_start_again_and_stay_exact(monkeypatch):
    from service import encoding

    monkeypatch.setattr(encoding, "_READ_SLOTS", encoding._SlotCache())
    monkeypatch.setattr(encoding, "_INSTANTS", encoding._InstantCache())
    monkeypatch.setattr(encoding._SlotCache, "MAX", 150)
    monkeypatch.setattr(encoding._InstantCache, "MAX", 150)
    first, second = reads_table(n=120), reads_table(n=120, start=dt.datetime(2018, 6, 1, tzinfo=UTC))
    both = pa.concat_tables([first, second])
    for table in (first, both, second, both):  # the second fill drops what the first cached
        assert json_body(table, envelope) == reference(table)
        col = table["read_timestamp"].combine_chunks()
        assert _instants(col).equals(_instants_built(col))


@pytest.mark.parametrize("column", [
    pa.array(['say "hi"', "ok"]),                   # a quote to escape
    pa.array(["back\\slash", "ok"]),                # a backslash
    pa.array(["line\nbreak", "ok"]),                # a control character
    pa.array(["x", None]),                          # a null
    pa.array([1.5, 2.25]),                          # floats: msgspec's formatting
    pa.array([["a", "b"], []]),                     # lists
    pa.array([True, False]),                        # booleans
])
def test_json_body_declines_what_only_the_row_path_renders(column):
    table = pa.table({"id": pa.array([1, 2], pa.int32()), "value": column})
    assert json_array(table) is None
    assert json_body(table, lambda rows: {"items": rows}) == msgspec.json.encode({"items": json_rows(table)})


def test_unicode_text_is_rendered_as_is():
    table = pa.table({"name": pa.array(["Māori", "ok"]), "n": pa.array([1, -2], pa.int64())})
    assert json_body(table, lambda rows: {"items": rows}) == msgspec.json.encode({"items": json_rows(table)})


def test_instant_cache_gives_the_same_text_as_the_casts():
    table = reads_table(n=300)
    col = table["read_timestamp"]
    assert _instants(col).equals(_instants_built(col.combine_chunks()))
    # Again, now from the cache, and mixed with instants not seen yet.
    more = pa.array([dt.datetime(2018, 9, 29, 13, 30, tzinfo=UTC), dt.datetime(2018, 4, 1, 0, 0, tzinfo=UTC)]
                    + col.to_pylist()[::7], schema.TIMESTAMP)
    assert _instants(more).equals(_instants_built(more))
    # Fractions of a second and nulls take the cast path.
    odd = pa.array([dt.datetime(2018, 6, 1, 0, 0, 0, 500, tzinfo=UTC), None], schema.TIMESTAMP)
    assert _instants(odd).equals(_instants_built(odd))
    assert _instants(odd).to_pylist() == ["2018-06-01T12:00:00.000500+12:00", None]


def test_arrow_stream_is_what_the_stream_writer_writes():
    table = reads_table(n=1000)
    batches = table.to_batches(max_chunksize=300)
    request = SimpleNamespace(app=SimpleNamespace(state={}), scope={}, url=SimpleNamespace(path="/"))
    got = b"".join(_arrow_chunks(request, table.schema, iter(batches), Format.ARROW))
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    assert got == sink.getvalue()
    assert ipc.open_stream(got).read_all().equals(table)
